"""The smallest Python transform: every record, as compact JSON, unkeyed."""

import sluice


class KeepAll:
    def __init__(self, config):
        pass

    def process(self, record):
        return sluice.Message(value=record.compact())


WitWorld = sluice.export(KeepAll)
