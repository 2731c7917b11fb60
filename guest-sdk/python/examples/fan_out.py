"""Two messages per record: one to `--topic`, one to partition 0 of `audit`."""

import sluice


class FanOut:
    def __init__(self, config):
        sluice.log("info", "fan_out ready")

    def process(self, record):
        value = record.compact()
        return [sluice.Message(value=value), sluice.Message(value=value, topic="audit", partition=0)]


WitWorld = sluice.export(FanOut)
