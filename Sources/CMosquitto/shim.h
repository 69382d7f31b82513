#include <mosquitto.h>
// MQTT 5 property identifiers (MQTT_PROP_*), reason codes (MQTT_RC_*) and protocol versions.
#include <mqtt_protocol.h>
