/* Names of message identifiers, for logs. */
#include "gcs/msgtype.h"

#include <stdio.h>

#include "cleanup.h"

static const struct {
	uint32_t rpc;
	const char *name;
} rpc_names[] = {
	{ GCS_RPC_CREATE, "Create" },
	{ GCS_RPC_START, "Start" },
	{ GCS_RPC_SHUTDOWN_GRACEFUL, "ShutdownGraceful" },
	{ GCS_RPC_SHUTDOWN_FORCED, "ShutdownForced" },
	{ GCS_RPC_EXECUTE_PROCESS, "ExecuteProcess" },
	{ GCS_RPC_WAIT_FOR_PROCESS, "WaitForProcess" },
	{ GCS_RPC_SIGNAL_PROCESS, "SignalProcess" },
	{ GCS_RPC_RESIZE_CONSOLE, "ResizeConsole" },
	{ GCS_RPC_GET_PROPERTIES, "GetProperties" },
	{ GCS_RPC_MODIFY_SETTINGS, "ModifySettings" },
	{ GCS_RPC_NEGOTIATE_PROTOCOL, "NegotiateProtocol" },
	{ GCS_RPC_DUMP_STACKS, "DumpStacks" },
	{ GCS_RPC_DELETE_CONTAINER_STATE, "DeleteContainerState" },
	{ GCS_RPC_UPDATE_CONTAINER, "UpdateContainer" },
	{ GCS_RPC_LIFECYCLE_NOTIFICATION, "LifecycleNotification" },
	{ GCS_RPC_MODIFY_SERVICE_SETTINGS, "ModifyServiceSettings" },
};

const char *gcs_proto_rpc_name(uint32_t type)
{
	uint32_t rpc = type & ~GCS_MSG_TYPE_MASK;

	if (gcs_msg_is_notification(type))
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(rpc_names); i++)
		if (rpc_names[i].rpc == rpc)
			return rpc_names[i].name;
	return NULL;
}

bool gcs_proto_msg_known(uint32_t type)
{
	if (type == GCS_MSG_CONTAINER_NOTIFY)
		return true;
	if (!gcs_msg_is_request(type) && !gcs_msg_is_response(type))
		return false;
	return gcs_proto_rpc_name(type) != NULL;
}

const char *gcs_proto_msg_name(uint32_t type, char *buf, unsigned len)
{
	const char *rpc = gcs_proto_rpc_name(type);

	if (type == GCS_MSG_CONTAINER_NOTIFY)
		snprintf(buf, len, "Notify(Container)");
	else if (gcs_msg_is_request(type) && rpc)
		snprintf(buf, len, "Request(%s)", rpc);
	else if (gcs_msg_is_response(type) && rpc)
		snprintf(buf, len, "Response(%s)", rpc);
	else
		snprintf(buf, len, "0x%08x", type);
	return buf;
}
