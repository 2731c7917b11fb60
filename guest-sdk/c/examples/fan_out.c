/* ABI version 2: each record becomes two messages, the second routed to
 * partition 0 of the topic `audit`; the module logs a line at start-up. */
#include "sluice.h"

int sluice_on_init(const sluice_config *config) {
    (void)config;
    sluice_log(SLUICE_INFO, "fan_out ready");
    return 0;
}

void sluice_on_record(const sluice_record *record) {
    sluice_message message = {0};
    message.has_value = 1;
    message.value = sluice_record_compact(record);
    sluice_emit(&message);
    message.topic = "audit";
    message.has_partition = 1;
    message.partition = 0;
    sluice_emit(&message);
}
