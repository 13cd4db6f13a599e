/* abi_layout.c - the layout of every struct that crosses the plugin boundary, pinned.
 *
 * A plugin built against an older header reads and writes these structs with the offsets
 * it was compiled with, so a member that moves, shrinks or changes type breaks plugins
 * already built: these asserts fail the host's build first. Structs only ever grow at their
 * end (and say so through struct_size). The host API table's entries are pinned beside the
 * table in host_api.c; its header is pinned here. The numbers are those of LP64 targets
 * (Linux on x86-64 and arm64), the ABI's platforms; elsewhere only the table's own asserts
 * run. tests/plugins/abi/ holds the shipped headers, against which abi_v1_0, abi_v1_1 and
 * abi_v1_2 are built and loaded. Nothing here generates code. */
#include <iogate/iogate.h>
#include <stdint.h>

#define PIN(type, member, offset, size)                                                            \
    _Static_assert(offsetof(type, member) == (offset) && sizeof(((type *)0)->member) == (size),    \
                   #type "." #member " moved or changed size: the plugin ABI layout is frozen")
#define PIN_SIZE(type, size)                                                                       \
    _Static_assert(sizeof(type) == (size), #type " changed size: append members, never insert")

#if UINTPTR_MAX == UINT64_MAX && SIZE_MAX == UINT64_MAX

/* 1.0 */
PIN(iog_principal_t, struct_size, 0, 4);
PIN(iog_principal_t, user_id, 8, 8);
PIN(iog_principal_t, claims_json, 16, 8);
PIN(iog_principal_t, expires_at, 24, 8);
PIN_SIZE(iog_principal_t, 32);

/* 1.0 */
PIN(iog_connection_t, struct_size, 0, 4);
PIN(iog_connection_t, nsp, 8, 8);
PIN(iog_connection_t, socket_id, 16, 8);
PIN(iog_connection_t, principal, 24, 8);
PIN(iog_connection_t, auth_json, 32, 8);
PIN(iog_connection_t, reason, 40, 8);
PIN(iog_connection_t, recovered, 48, 4); /* 1.3 */
PIN_SIZE(iog_connection_t, 56);

/* 1.1 */
PIN(iog_bytes_t, data, 0, 8);
PIN(iog_bytes_t, len, 8, 8);
PIN_SIZE(iog_bytes_t, 16);

/* 1.0 up to ack_id (64 bytes, what a 1.0 plugin reads); 1.1 appended the attachments. */
PIN(iog_client_event_t, struct_size, 0, 4);
PIN(iog_client_event_t, nsp, 8, 8);
PIN(iog_client_event_t, socket_id, 16, 8);
PIN(iog_client_event_t, principal, 24, 8);
PIN(iog_client_event_t, event, 32, 8);
PIN(iog_client_event_t, args_json, 40, 8);
PIN(iog_client_event_t, args_len, 48, 8);
PIN(iog_client_event_t, ack_id, 56, 8);
PIN(iog_client_event_t, attachments, 64, 8);
PIN(iog_client_event_t, attachments_len, 72, 8);
PIN_SIZE(iog_client_event_t, 80);

/* 1.0; the host accepts a target without except_len (struct_size 32). */
PIN(iog_target_t, struct_size, 0, 4);
PIN(iog_target_t, kind, 4, 4);
PIN(iog_target_t, nsp, 8, 8);
PIN(iog_target_t, id, 16, 8);
PIN(iog_target_t, except, 24, 8);
PIN(iog_target_t, except_len, 32, 8);
PIN_SIZE(iog_target_t, 40);

/* 1.2 */
PIN(iog_server_event_t, struct_size, 0, 4);
PIN(iog_server_event_t, nsp, 8, 8);
PIN(iog_server_event_t, event, 16, 8);
PIN(iog_server_event_t, args_json, 24, 8);
PIN(iog_server_event_t, args_len, 32, 8);
PIN_SIZE(iog_server_event_t, 40);

/* 1.3 */
PIN(iog_metric_def_t, struct_size, 0, 4);
PIN(iog_metric_def_t, type, 4, 4);
PIN(iog_metric_def_t, name, 8, 8);
PIN(iog_metric_def_t, help, 16, 8);
PIN(iog_metric_def_t, label_names, 24, 8);
PIN(iog_metric_def_t, label_names_len, 32, 8);
PIN(iog_metric_def_t, buckets, 40, 8);
PIN(iog_metric_def_t, buckets_len, 48, 8);
PIN_SIZE(iog_metric_def_t, 56);

/* 1.3: connection state recovery */
PIN(iog_recovery_request_t, struct_size, 0, 4);
PIN(iog_recovery_request_t, replay, 8, 8);
PIN(iog_recovery_request_t, nsp, 16, 8);
PIN(iog_recovery_request_t, socket_id, 24, 8);
PIN(iog_recovery_request_t, principal, 32, 8);
PIN(iog_recovery_request_t, event, 40, 8);
PIN(iog_recovery_request_t, after, 48, 8);
PIN(iog_recovery_request_t, since_ms, 56, 8);
PIN(iog_recovery_request_t, not_before_ms, 64, 8);
PIN(iog_recovery_request_t, max_events, 72, 4);
PIN_SIZE(iog_recovery_request_t, 80);

PIN(iog_recovery_source_t, struct_size, 0, 4);
PIN(iog_recovery_source_t, event, 8, 8);
PIN(iog_recovery_source_t, cursor_key, 16, 8);
PIN(iog_recovery_source_t, replay, 24, 8);
PIN(iog_recovery_source_t, user, 32, 8);
PIN(iog_recovery_source_t, initial_cursor, 40, 8);
PIN_SIZE(iog_recovery_source_t, 48);

/* 1.0: what the loader reads before it knows the plugin's version (up to fini); 1.3
 * appended check, read only when struct_size covers it. */
PIN(iog_plugin_descriptor_t, struct_size, 0, 4);
PIN(iog_plugin_descriptor_t, abi_major, 4, 2);
PIN(iog_plugin_descriptor_t, abi_minor, 6, 2);
PIN(iog_plugin_descriptor_t, name, 8, 8);
PIN(iog_plugin_descriptor_t, version, 16, 8);
PIN(iog_plugin_descriptor_t, init, 24, 8);
PIN(iog_plugin_descriptor_t, fini, 32, 8);
PIN(iog_plugin_descriptor_t, check, 40, 8);
PIN_SIZE(iog_plugin_descriptor_t, 48);

/* 1.0: the host table's header; its entries follow from offset 8 (host_api.c). */
PIN(iog_host_api_t, struct_size, 0, 4);
PIN(iog_host_api_t, abi_major, 4, 2);
PIN(iog_host_api_t, abi_minor, 6, 2);

#endif
