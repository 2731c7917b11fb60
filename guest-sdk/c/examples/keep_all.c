/* The smallest transform: keeps every record, unkeyed, as compact JSON. */
#include "sluice.h"

int sluice_on_init(const sluice_config *config) {   /* 0 accepts */
    (void)config;
    return 0;
}

void sluice_on_record(const sluice_record *record) { /* no emit: dropped */
    sluice_message message = {0};
    message.has_value = 1;
    message.value = sluice_record_compact(record);
    sluice_emit(&message);
}
