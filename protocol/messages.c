/*
 * Message codecs: the request and response bases, every message body of spec sections 4-12,
 * and the table that maps a header Type to its codec.
 */
#include "gcs/messages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "codec.h"
#include "gcs/guid.h"

/* ---- owner ---- */

void gcs_proto_release(void *msg)
{
	struct gcs_proto_owner *own = msg;
	void *b;

	if (!own)
		return;
	for (unsigned i = 0; i < GCS_PROTO_MAX_DOCS; i++) {
		json_decref(own->docs[i]);
		own->docs[i] = NULL;
	}
	b = own->blocks;
	while (b) {
		void *next = *(void **)b;
		free(b);
		b = next;
	}
	own->blocks = NULL;
}

/* ---- bases ---- */

static int request_base_decode(struct jd *d, json_t *root, struct gcs_proto_request_base *b)
{
	int rc;

	if ((rc = jd_str(d, root, "ContainerId", &b->container_id)) < 0 ||
	    (rc = jd_guid(d, root, "ActivityId", GCS_NULL_GUID_STRING, &b->activity_id)) < 0)
		return rc;
	return 0;
}

static void request_base_encode(struct je *e, json_t *o, const struct gcs_proto_request_base *b)
{
	je_str(e, o, "ContainerId", b->container_id);
	je_str(e, o, "ActivityId",
	       (b->activity_id && b->activity_id[0]) ? b->activity_id : GCS_NULL_GUID_STRING);
}

static int response_base_decode(struct jd *d, json_t *root, struct gcs_proto_response_base *b)
{
	struct gcs_proto_error_record *recs;
	json_t *arr, *v;
	size_t i;
	int rc;

	if ((rc = jd_i32(d, root, "Result", &b->result)) < 0 ||
	    (rc = jd_guid(d, root, "ActivityId", "", &b->activity_id)) < 0 ||
	    (rc = jd_str(d, root, "ErrorMessage", &b->error_message)) < 0 ||
	    (rc = jd_array(d, root, "ErrorRecords", &arr)) < 0)
		return rc;
	if (!arr || json_array_size(arr) == 0)
		return 0;
	recs = jd_alloc(d, json_array_size(arr) * sizeof(*recs));
	if (!recs)
		return jd_nomem(d);
	json_array_foreach(arr, i, v) {
		struct gcs_proto_error_record *r = &recs[i];
		if (!json_is_object(v))
			return jd_fail(d, "ErrorRecords[%zu]: expected object", i);
		if ((rc = jd_i32(d, v, "Result", &r->result)) < 0 ||
		    (rc = jd_str(d, v, "Message", &r->message)) < 0 ||
		    (rc = jd_str(d, v, "StackTrace", &r->stack_trace)) < 0 ||
		    (rc = jd_str(d, v, "ModuleName", &r->module_name)) < 0 ||
		    (rc = jd_str(d, v, "FileName", &r->file_name)) < 0 ||
		    (rc = jd_u32(d, v, "Line", &r->line)) < 0 ||
		    (rc = jd_str(d, v, "FunctionName", &r->function_name)) < 0)
			return gcs_error_prefix(d->err, rc, "ErrorRecords[%zu]", i);
	}
	b->error_records = recs;
	b->n_error_records = json_array_size(arr);
	return 0;
}

/* The Go GCS's order: Result, ActivityId, ErrorMessage, ErrorRecords. */
static void response_base_encode(struct je *e, json_t *o, const struct gcs_proto_response_base *b)
{
	je_sint(e, o, "Result", b->result);
	if (b->activity_id && b->activity_id[0]) {
		if (!gcs_proto_guid_valid(b->activity_id) && e->rc >= 0)
			e->rc = gcs_error_set(e->err, -EINVAL, HR_INVALIDARG,
					      "encode ActivityId: invalid GUID");
		je_str(e, o, "ActivityId", b->activity_id);
	}
	je_str_opt(e, o, "ErrorMessage", b->error_message);
	if (b->n_error_records > 0) {
		json_t *arr = je_array(e);
		for (size_t i = 0; i < b->n_error_records && arr; i++) {
			const struct gcs_proto_error_record *r = &b->error_records[i];
			json_t *ro = je_object(e);
			if (!ro)
				break;
			je_sint(e, ro, "Result", r->result);
			je_str(e, ro, "Message", r->message);
			je_str_opt(e, ro, "StackTrace", r->stack_trace);
			je_str(e, ro, "ModuleName", r->module_name);
			je_str(e, ro, "FileName", r->file_name);
			je_uint(e, ro, "Line", r->line);
			je_str_opt(e, ro, "FunctionName", r->function_name);
			je_append(e, arr, ro);
		}
		je_set(e, o, "ErrorRecords", arr);
	}
}

/* ---- NegotiateProtocol ---- */

static int negotiate_req_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_negotiate_req *m = msg;
	int rc;

	if ((rc = jd_u32(d, root, "MinimumVersion", &m->minimum_version)) < 0 ||
	    (rc = jd_u32(d, root, "MaximumVersion", &m->maximum_version)) < 0)
		return rc;
	return 0;
}

static void negotiate_req_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_negotiate_req *m = msg;

	je_uint(e, o, "MinimumVersion", m->minimum_version);
	je_uint(e, o, "MaximumVersion", m->maximum_version);
}

static int guest_caps_decode(struct jd *d, json_t *caps, struct gcs_proto_guest_caps *g)
{
	json_t *o = jd_get(caps, "GuestDefinedCapabilities");
	int rc;

	/* hcsshim unmarshals it unconditionally: it must be there and be an object. */
	if (!o || !json_is_object(o))
		return jd_fail(d, "Capabilities.GuestDefinedCapabilities: %s",
			       o ? "expected object" : "missing");
	if ((rc = jd_bool(d, o, "NamespaceAddRequestSupported",
			  &g->namespace_add_request_supported)) < 0 ||
	    (rc = jd_bool(d, o, "SignalProcessSupported", &g->signal_process_supported)) < 0 ||
	    (rc = jd_bool(d, o, "DumpStacksSupported", &g->dump_stacks_supported)) < 0 ||
	    (rc = jd_bool(d, o, "DeleteContainerStateSupported",
			  &g->delete_container_state_supported)) < 0 ||
	    (rc = jd_bool(d, o, "LcowContainerOperationsSupported",
			  &g->lcow_container_operations_supported)) < 0)
		return gcs_error_prefix(d->err, rc, "Capabilities.GuestDefinedCapabilities");
	return 0;
}

static int negotiate_resp_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_negotiate_resp *m = msg;
	struct gcs_proto_capabilities *c = &m->capabilities;
	json_t *caps, *arr, *v;
	size_t i;
	int rc;

	if ((rc = jd_u32(d, root, "Version", &m->version)) < 0 ||
	    (rc = jd_object(d, root, "Capabilities", &caps)) < 0)
		return rc;
	if ((rc = jd_bool(d, caps, "SendHostCreateMessage", &c->send_host_create_message)) < 0 ||
	    (rc = jd_bool(d, caps, "SendHostStartMessage", &c->send_host_start_message)) < 0 ||
	    (rc = jd_bool(d, caps, "HvSocketConfigOnStartup", &c->hv_socket_config_on_startup)) <
		    0 ||
	    (rc = jd_bool(d, caps, "SendLifecycleNotifications",
			  &c->send_lifecycle_notifications)) < 0 ||
	    (rc = jd_bool(d, caps, "ModifyServiceSettingsSupported",
			  &c->modify_service_settings_supported)) < 0 ||
	    (rc = jd_array(d, caps, "SupportedSchemaVersions", &arr)) < 0 ||
	    (rc = jd_str(d, caps, "RuntimeOsType", &c->runtime_os_type)) < 0)
		return gcs_error_prefix(d->err, rc, "Capabilities");
	if (arr && json_array_size(arr) > 0) {
		struct gcs_proto_schema_version *sv =
			jd_alloc(d, json_array_size(arr) * sizeof(*sv));
		if (!sv)
			return jd_nomem(d);
		json_array_foreach(arr, i, v) {
			if (!json_is_object(v))
				return jd_fail(d, "SupportedSchemaVersions[%zu]: expected object",
					       i);
			if ((rc = jd_u32(d, v, "Major", &sv[i].major)) < 0 ||
			    (rc = jd_u32(d, v, "Minor", &sv[i].minor)) < 0)
				return gcs_error_prefix(d->err, rc, "SupportedSchemaVersions[%zu]",
							i);
		}
		c->supported_schema_versions = sv;
		c->n_supported_schema_versions = json_array_size(arr);
	}
	/*
	 * A failed negotiation is answered with the base only (see gcs_proto_to_json), and hcsshim
	 * reads the capabilities only on success: they are required only when Result is 0.
	 */
	if (m->base.result != 0 && !jd_get(caps, "GuestDefinedCapabilities"))
		return 0;
	return guest_caps_decode(d, caps, &c->guest_defined);
}

static void negotiate_resp_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_negotiate_resp *m = msg;
	const struct gcs_proto_capabilities *c = &m->capabilities;
	json_t *caps = je_object(e), *g = je_object(e);

	je_uint_opt(e, o, "Version", m->version);
	if (!caps || !g) {
		json_decref(caps);
		json_decref(g);
		return;
	}
	je_bool_opt(e, caps, "SendHostCreateMessage", c->send_host_create_message);
	je_bool_opt(e, caps, "SendHostStartMessage", c->send_host_start_message);
	je_bool_opt(e, caps, "HvSocketConfigOnStartup", c->hv_socket_config_on_startup);
	je_bool_opt(e, caps, "SendLifecycleNotifications", c->send_lifecycle_notifications);
	je_bool_opt(e, caps, "ModifyServiceSettingsSupported",
		    c->modify_service_settings_supported);
	if (c->n_supported_schema_versions > 0) {
		json_t *arr = je_array(e);
		for (size_t i = 0; i < c->n_supported_schema_versions && arr; i++) {
			json_t *v = je_object(e);
			if (!v)
				break;
			je_uint(e, v, "Major", c->supported_schema_versions[i].major);
			je_uint(e, v, "Minor", c->supported_schema_versions[i].minor);
			je_append(e, arr, v);
		}
		je_set(e, caps, "SupportedSchemaVersions", arr);
	}
	je_str_opt(e, caps, "RuntimeOsType", c->runtime_os_type);
	je_bool_opt(e, g, "NamespaceAddRequestSupported",
		    c->guest_defined.namespace_add_request_supported);
	je_bool_opt(e, g, "SignalProcessSupported", c->guest_defined.signal_process_supported);
	je_bool_opt(e, g, "DumpStacksSupported", c->guest_defined.dump_stacks_supported);
	je_bool_opt(e, g, "DeleteContainerStateSupported",
		    c->guest_defined.delete_container_state_supported);
	/* lcow extension; hcsshim's json.Unmarshal ignores the unknown key. */
	je_bool_opt(e, g, "LcowContainerOperationsSupported",
		    c->guest_defined.lcow_container_operations_supported);
	je_set(e, caps, "GuestDefinedCapabilities", g);
	je_set(e, o, "Capabilities", caps);
}

/* ---- Create ---- */

static int create_req_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_create_req *m = msg;
	struct gcs_proto_container_config *c = &m->config;
	json_t *inner, *sv;
	int rc;

	if ((rc = jd_inner(d, root, "ContainerConfig", &inner)) < 0)
		return rc;
	c->oci_bundle_path = "";
	c->scratch_dir_path = "";
	if (!inner)
		return 0;
	if ((rc = jd_object(d, inner, "SchemaVersion", &sv)) < 0 ||
	    (rc = jd_u32(d, sv, "Major", &c->schema_version.major)) < 0 ||
	    (rc = jd_u32(d, sv, "Minor", &c->schema_version.minor)) < 0 ||
	    (rc = jd_str(d, inner, "OciBundlePath", &c->oci_bundle_path)) < 0 ||
	    (rc = jd_object(d, inner, "OciSpecification", &c->oci_specification)) < 0 ||
	    (rc = jd_str(d, inner, "ScratchDirPath", &c->scratch_dir_path)) < 0)
		return gcs_error_prefix(d->err, rc, "ContainerConfig");
	return 0;
}

static void create_req_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_create_req *m = msg;
	const struct gcs_proto_container_config *c = &m->config;
	json_t *inner = je_object(e), *sv = je_object(e);

	if (!inner || !sv) {
		json_decref(inner);
		json_decref(sv);
		return;
	}
	je_uint(e, sv, "Major", c->schema_version.major);
	je_uint(e, sv, "Minor", c->schema_version.minor);
	je_set(e, inner, "SchemaVersion", sv);
	je_str(e, inner, "OciBundlePath", c->oci_bundle_path);
	je_set(e, inner, "OciSpecification",
	       c->oci_specification ? json_incref(c->oci_specification) : json_null());
	je_str(e, inner, "ScratchDirPath", c->scratch_dir_path);
	je_inner(e, o, "ContainerConfig", inner);
	json_decref(inner);
}

static int create_resp_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_create_resp *m = msg;
	int rc;

	if ((rc = jd_str(d, root, "SelectedVersion", &m->selected_version)) < 0 ||
	    (rc = jd_u32(d, root, "SelectedProtocolVersion", &m->selected_protocol_version)) < 0)
		return rc;
	return 0;
}

static void create_resp_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_create_resp *m = msg;

	je_str_opt(e, o, "SelectedVersion", m->selected_version);
	je_uint(e, o, "SelectedProtocolVersion", m->selected_protocol_version);
}

/* ---- ExecuteProcess ---- */

static int env_decode(struct jd *d, json_t *inner, struct gcs_proto_process_params *p)
{
	struct gcs_proto_env *env;
	const char *k;
	json_t *o, *v;
	size_t i = 0;
	int rc = jd_object(d, inner, "Environment", &o);

	if (rc < 0 || !o || json_object_size(o) == 0)
		return rc;
	env = jd_alloc(d, json_object_size(o) * sizeof(*env));
	if (!env)
		return jd_nomem(d);
	json_object_foreach(o, k, v) {
		if (!json_is_string(v))
			return jd_fail(d, "Environment[%s]: expected string", k);
		env[i].name = k;
		env[i].value = json_string_value(v);
		i++;
	}
	p->environment = env;
	p->n_environment = i;
	return 0;
}

static int params_decode(struct jd *d, json_t *in, struct gcs_proto_process_params *p)
{
	json_t *cs;
	int rc;

	if ((rc = jd_str(d, in, "ApplicationName", &p->application_name)) < 0 ||
	    (rc = jd_str(d, in, "CommandLine", &p->command_line)) < 0 ||
	    (rc = jd_strv(d, in, "CommandArgs", &p->command_args, &p->n_command_args)) < 0 ||
	    (rc = jd_str(d, in, "User", &p->user)) < 0 ||
	    (rc = jd_str(d, in, "WorkingDirectory", &p->working_directory)) < 0 ||
	    (rc = env_decode(d, in, p)) < 0 ||
	    (rc = jd_bool(d, in, "RestrictedToken", &p->restricted_token)) < 0 ||
	    (rc = jd_bool(d, in, "EmulateConsole", &p->emulate_console)) < 0 ||
	    (rc = jd_bool(d, in, "CreateStdInPipe", &p->create_stdin_pipe)) < 0 ||
	    (rc = jd_bool(d, in, "CreateStdOutPipe", &p->create_stdout_pipe)) < 0 ||
	    (rc = jd_bool(d, in, "CreateStdErrPipe", &p->create_stderr_pipe)) < 0 ||
	    (rc = jd_array(d, in, "ConsoleSize", &cs)) < 0 ||
	    (rc = jd_bool(d, in, "CreateInUtilityVM", &p->create_in_utility_vm)) < 0 ||
	    (rc = jd_bool(d, in, "UseExistingLogin", &p->use_existing_login)) < 0 ||
	    (rc = jd_bool(d, in, "UseLegacyConsole", &p->use_legacy_console)) < 0 ||
	    (rc = jd_object(d, in, "OciProcess", &p->oci_process)) < 0)
		return rc;
	if (cs && json_array_size(cs) > 0) {
		json_t *v;
		size_t i;
		json_array_foreach(cs, i, v) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > UINT16_MAX)
				return jd_fail(d, "ConsoleSize[%zu]: expected uint16", i);
			if (i < 2)
				p->console_size[i] = (uint16_t)json_integer_value(v);
		}
		p->has_console_size = true;
	}
	return 0;
}

static int env_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gcs_proto_env *)a)->name,
		      ((const struct gcs_proto_env *)b)->name);
}

static json_t *params_to_json(struct je *e, const struct gcs_proto_process_params *p)
{
	json_t *o = je_object(e);

	if (!o)
		return NULL;
	je_str_opt(e, o, "ApplicationName", p->application_name);
	je_str_opt(e, o, "CommandLine", p->command_line);
	je_strv_opt(e, o, "CommandArgs", p->command_args, p->n_command_args);
	je_str_opt(e, o, "User", p->user);
	je_str_opt(e, o, "WorkingDirectory", p->working_directory);
	if (p->n_environment > 0) {
		/* Go writes map keys sorted. */
		_cleanup_free_ struct gcs_proto_env *sorted =
			malloc(p->n_environment * sizeof(*sorted));
		json_t *env = je_object(e);
		if (!sorted && e->rc >= 0)
			e->rc = gcs_error_set(e->err, -ENOMEM, HR_FAIL, "out of memory");
		if (sorted && env) {
			memcpy(sorted, p->environment, p->n_environment * sizeof(*sorted));
			qsort(sorted, p->n_environment, sizeof(*sorted), env_cmp);
			for (size_t i = 0; i < p->n_environment; i++)
				je_str(e, env, sorted[i].name ? sorted[i].name : "",
				       sorted[i].value);
		}
		je_set(e, o, "Environment", env);
	}
	je_bool_opt(e, o, "RestrictedToken", p->restricted_token);
	je_bool_opt(e, o, "EmulateConsole", p->emulate_console);
	je_bool_opt(e, o, "CreateStdInPipe", p->create_stdin_pipe);
	je_bool_opt(e, o, "CreateStdOutPipe", p->create_stdout_pipe);
	je_bool_opt(e, o, "CreateStdErrPipe", p->create_stderr_pipe);
	if (p->has_console_size)
		je_set(e, o, "ConsoleSize",
		       json_pack("[ii]", (int)p->console_size[0], (int)p->console_size[1]));
	je_bool_opt(e, o, "CreateInUtilityVM", p->create_in_utility_vm);
	je_bool_opt(e, o, "UseExistingLogin", p->use_existing_login);
	je_bool_opt(e, o, "UseLegacyConsole", p->use_legacy_console);
	je_value_opt(e, o, "OciProcess", p->oci_process);
	return o;
}

static int exec_req_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_execute_process_req *m = msg;
	json_t *settings, *inner, *vs;
	int rc;

	if ((rc = jd_object(d, root, "Settings", &settings)) < 0 ||
	    (rc = jd_inner(d, settings, "ProcessParameters", &inner)) < 0 ||
	    (rc = jd_object(d, settings, "VsockStdioRelaySettings", &vs)) < 0 ||
	    (rc = jd_object(d, settings, "StdioRelaySettings", &m->stdio_relay)) < 0)
		return gcs_error_prefix(d->err, rc, "Settings");
	if ((rc = params_decode(d, inner, &m->params)) < 0)
		return gcs_error_prefix(d->err, rc, "Settings.ProcessParameters");
	if ((rc = jd_u32(d, vs, "StdIn", &m->vsock_stdio.stdin_port)) < 0 ||
	    (rc = jd_u32(d, vs, "StdOut", &m->vsock_stdio.stdout_port)) < 0 ||
	    (rc = jd_u32(d, vs, "StdErr", &m->vsock_stdio.stderr_port)) < 0)
		return gcs_error_prefix(d->err, rc, "Settings.VsockStdioRelaySettings");
	return 0;
}

static void exec_req_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_execute_process_req *m = msg;
	json_t *settings = je_object(e), *vs = je_object(e),
	       *params = params_to_json(e, &m->params);

	if (settings && vs && params) {
		je_inner(e, settings, "ProcessParameters", params);
		je_value_opt(e, settings, "StdioRelaySettings", m->stdio_relay);
		je_uint_opt(e, vs, "StdIn", m->vsock_stdio.stdin_port);
		je_uint_opt(e, vs, "StdOut", m->vsock_stdio.stdout_port);
		je_uint_opt(e, vs, "StdErr", m->vsock_stdio.stderr_port);
		je_set(e, settings, "VsockStdioRelaySettings", json_incref(vs));
		je_set(e, o, "Settings", json_incref(settings));
	}
	json_decref(settings);
	json_decref(vs);
	json_decref(params);
}

static int exec_resp_decode(struct jd *d, json_t *root, void *msg)
{
	return jd_u32(d, root, "ProcessId",
		      &((struct gcs_proto_execute_process_resp *)msg)->process_id);
}

static void exec_resp_encode(struct je *e, json_t *o, const void *msg)
{
	je_uint(e, o, "ProcessId",
		((const struct gcs_proto_execute_process_resp *)msg)->process_id);
}

/* ---- WaitForProcess, SignalProcess, ResizeConsole ---- */

static int wait_req_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_wait_req *m = msg;
	int rc;

	if ((rc = jd_u32(d, root, "ProcessId", &m->process_id)) < 0 ||
	    (rc = jd_u32(d, root, "TimeoutInMs", &m->timeout_ms)) < 0)
		return rc;
	return 0;
}

static void wait_req_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_wait_req *m = msg;

	je_uint(e, o, "ProcessId", m->process_id);
	je_uint(e, o, "TimeoutInMs", m->timeout_ms);
}

static int wait_resp_decode(struct jd *d, json_t *root, void *msg)
{
	return jd_u32(d, root, "ExitCode", &((struct gcs_proto_wait_resp *)msg)->exit_code);
}

static void wait_resp_encode(struct je *e, json_t *o, const void *msg)
{
	je_uint(e, o, "ExitCode", ((const struct gcs_proto_wait_resp *)msg)->exit_code);
}

static int signal_req_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_signal_req *m = msg;
	json_t *opts;
	int rc;

	if ((rc = jd_u32(d, root, "ProcessId", &m->process_id)) < 0 ||
	    (rc = jd_object(d, root, "Options", &opts)) < 0)
		return rc;
	m->has_options = opts != NULL;
	if ((rc = jd_i32(d, opts, "Signal", &m->signal)) < 0)
		return gcs_error_prefix(d->err, rc, "Options");
	return 0;
}

static void signal_req_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_signal_req *m = msg;
	json_t *opts;

	je_uint(e, o, "ProcessId", m->process_id);
	if (!m->has_options)
		return;
	opts = je_object(e);
	if (opts)
		je_sint_opt(e, opts, "Signal", m->signal);
	je_set(e, o, "Options", opts);
}

static int resize_req_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_resize_req *m = msg;
	int rc;

	if ((rc = jd_u32(d, root, "ProcessId", &m->process_id)) < 0 ||
	    (rc = jd_u16(d, root, "Height", &m->height)) < 0 ||
	    (rc = jd_u16(d, root, "Width", &m->width)) < 0)
		return rc;
	return 0;
}

static void resize_req_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_resize_req *m = msg;

	je_uint(e, o, "ProcessId", m->process_id);
	je_uint(e, o, "Height", m->height);
	je_uint(e, o, "Width", m->width);
}

/* ---- GetProperties ---- */

static int props_req_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_get_properties_req *m = msg;
	json_t *inner;
	int rc;

	if ((rc = jd_inner(d, root, "Query", &inner)) < 0)
		return rc;
	if ((rc = jd_strv(d, inner, "PropertyTypes", &m->property_types, &m->n_property_types)) < 0)
		return gcs_error_prefix(d->err, rc, "Query");
	return 0;
}

static void props_req_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_get_properties_req *m = msg;
	json_t *q = je_object(e);

	if (!q)
		return;
	je_strv_opt(e, q, "PropertyTypes", m->property_types, m->n_property_types);
	je_inner(e, o, "Query", q);
	json_decref(q);
}

static int props_resp_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_get_properties_resp *m = msg;
	struct gcs_proto_process_item *items;
	json_t *inner, *arr, *v;
	size_t i;
	int rc;

	if ((rc = jd_inner(d, root, "Properties", &inner)) < 0)
		return rc;
	if ((rc = jd_array(d, inner, "ProcessList", &arr)) < 0 ||
	    (rc = jd_object(d, inner, "LCOWMetrics", &m->lcow_metrics)) < 0)
		return gcs_error_prefix(d->err, rc, "Properties");
	if (!arr || json_array_size(arr) == 0)
		return 0;
	items = jd_alloc(d, json_array_size(arr) * sizeof(*items));
	if (!items)
		return jd_nomem(d);
	json_array_foreach(arr, i, v) {
		if (!json_is_object(v))
			return jd_fail(d, "Properties.ProcessList[%zu]: expected object", i);
		if ((rc = jd_u32(d, v, "ProcessId", &items[i].process_id)) < 0)
			return gcs_error_prefix(d->err, rc, "Properties.ProcessList[%zu]", i);
	}
	m->process_list = items;
	m->n_process_list = json_array_size(arr);
	return 0;
}

static void props_resp_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_get_properties_resp *m = msg;
	json_t *p = je_object(e);

	if (!p)
		return;
	if (m->n_process_list > 0) {
		json_t *arr = je_array(e);
		for (size_t i = 0; i < m->n_process_list && arr; i++) {
			json_t *it = je_object(e);
			if (!it)
				break;
			je_uint(e, it, "ProcessId", m->process_list[i].process_id);
			je_append(e, arr, it);
		}
		je_set(e, p, "ProcessList", arr);
	}
	je_value_opt(e, p, "LCOWMetrics", m->lcow_metrics);
	je_inner(e, o, "Properties", p);
	json_decref(p);
}

/* ---- ModifySettings ---- */

static int modify_req_decode(struct jd *d, json_t *root, void *msg)
{
	json_t *req;
	int rc = jd_object(d, root, "Request", &req);

	if (rc < 0)
		return rc;
	return modify_request_decode(d, req, msg);
}

static void modify_req_encode(struct je *e, json_t *o, const void *msg)
{
	modify_request_encode(e, o, msg);
}

/* ---- DumpStacks ---- */

static int stacks_resp_decode(struct jd *d, json_t *root, void *msg)
{
	return jd_str(d, root, "GuestStacks",
		      &((struct gcs_proto_dump_stacks_resp *)msg)->guest_stacks);
}

static void stacks_resp_encode(struct je *e, json_t *o, const void *msg)
{
	je_str(e, o, "GuestStacks", ((const struct gcs_proto_dump_stacks_resp *)msg)->guest_stacks);
}

/* ---- Windows-only requests ---- */

static int service_req_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_service_settings_req *m = msg;
	json_t *s;
	int rc;

	if ((rc = jd_str(d, root, "PropertyType", &m->property_type)) < 0)
		return rc;
	s = jd_get(root, "Settings");
	m->settings = s;
	return 0;
}

static void service_req_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_service_settings_req *m = msg;

	je_str(e, o, "PropertyType", m->property_type);
	je_value_opt(e, o, "Settings", m->settings);
}

static bool is_base_key(const char *k)
{
	return !strcmp(k, "ContainerId") || !strcmp(k, "ActivityId") || !strcmp(k, "ocsc") ||
	       !strcmp(k, "otsc");
}

static int opaque_req_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_opaque_req *m = msg;
	json_t *fields = json_object(), *v;
	const char *k;
	int rc;

	if (!fields)
		return jd_nomem(d);
	json_object_foreach(root, k, v) {
		if (!is_base_key(k) && json_object_set(fields, k, v) < 0) {
			json_decref(fields);
			return jd_nomem(d);
		}
	}
	rc = jd_keep(d, fields);
	if (rc < 0)
		return rc;
	m->fields = fields;
	return 0;
}

static void opaque_req_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_opaque_req *m = msg;
	const char *k;
	json_t *v;

	if (!m->fields)
		return;
	json_object_foreach(m->fields, k, v) {
		if (!is_base_key(k))
			je_set(e, o, k, json_incref(v));
	}
}

/* ---- notification ---- */

static int notify_decode(struct jd *d, json_t *root, void *msg)
{
	struct gcs_proto_notification *m = msg;
	int rc;

	if ((rc = jd_str(d, root, "Type", &m->type)) < 0 ||
	    (rc = jd_str(d, root, "Operation", &m->operation)) < 0 ||
	    (rc = jd_i32(d, root, "Result", &m->result)) < 0 ||
	    (rc = jd_inner(d, root, "ResultInfo", &m->result_info)) < 0)
		return rc;
	return 0;
}

static void notify_encode(struct je *e, json_t *o, const void *msg)
{
	const struct gcs_proto_notification *m = msg;

	je_str(e, o, "Type", m->type);
	je_str(e, o, "Operation", m->operation);
	je_sint(e, o, "Result", m->result);
	if (m->result_info)
		je_inner(e, o, "ResultInfo", m->result_info);
}

/* ---- the table ---- */

struct codec {
	uint32_t type;
	const char *struct_name;
	size_t size;
	int (*decode)(struct jd *d, json_t *root, void *msg); /* NULL: base only */
	void (*encode)(struct je *e, json_t *o, const void *msg);
};

#define REQ_BASE(t)                                                                       \
	{                                                                                 \
		t, "struct gcs_proto_request_base", sizeof(struct gcs_proto_request_base) \
	}
#define RESP_BASE(t)                                                                        \
	{                                                                                   \
		t, "struct gcs_proto_response_base", sizeof(struct gcs_proto_response_base) \
	}
#define MSG(t, st, dec, enc)                                  \
	{                                                     \
		t, "struct " #st, sizeof(struct st), dec, enc \
	}

static const struct codec codecs[] = {
	MSG(GCS_MSG_CREATE_REQ, gcs_proto_create_req, create_req_decode, create_req_encode),
	MSG(GCS_MSG_CREATE_RESP, gcs_proto_create_resp, create_resp_decode, create_resp_encode),
	REQ_BASE(GCS_MSG_START_REQ),
	RESP_BASE(GCS_MSG_START_RESP),
	REQ_BASE(GCS_MSG_SHUTDOWN_GRACEFUL_REQ),
	RESP_BASE(GCS_MSG_SHUTDOWN_GRACEFUL_RESP),
	REQ_BASE(GCS_MSG_SHUTDOWN_FORCED_REQ),
	RESP_BASE(GCS_MSG_SHUTDOWN_FORCED_RESP),
	MSG(GCS_MSG_EXECUTE_PROCESS_REQ, gcs_proto_execute_process_req, exec_req_decode,
	    exec_req_encode),
	MSG(GCS_MSG_EXECUTE_PROCESS_RESP, gcs_proto_execute_process_resp, exec_resp_decode,
	    exec_resp_encode),
	MSG(GCS_MSG_WAIT_FOR_PROCESS_REQ, gcs_proto_wait_req, wait_req_decode, wait_req_encode),
	MSG(GCS_MSG_WAIT_FOR_PROCESS_RESP, gcs_proto_wait_resp, wait_resp_decode, wait_resp_encode),
	MSG(GCS_MSG_SIGNAL_PROCESS_REQ, gcs_proto_signal_req, signal_req_decode, signal_req_encode),
	RESP_BASE(GCS_MSG_SIGNAL_PROCESS_RESP),
	MSG(GCS_MSG_RESIZE_CONSOLE_REQ, gcs_proto_resize_req, resize_req_decode, resize_req_encode),
	RESP_BASE(GCS_MSG_RESIZE_CONSOLE_RESP),
	MSG(GCS_MSG_GET_PROPERTIES_REQ, gcs_proto_get_properties_req, props_req_decode,
	    props_req_encode),
	MSG(GCS_MSG_GET_PROPERTIES_RESP, gcs_proto_get_properties_resp, props_resp_decode,
	    props_resp_encode),
	MSG(GCS_MSG_MODIFY_SETTINGS_REQ, gcs_proto_modify_req, modify_req_decode,
	    modify_req_encode),
	RESP_BASE(GCS_MSG_MODIFY_SETTINGS_RESP),
	MSG(GCS_MSG_NEGOTIATE_PROTOCOL_REQ, gcs_proto_negotiate_req, negotiate_req_decode,
	    negotiate_req_encode),
	MSG(GCS_MSG_NEGOTIATE_PROTOCOL_RESP, gcs_proto_negotiate_resp, negotiate_resp_decode,
	    negotiate_resp_encode),
	REQ_BASE(GCS_MSG_DUMP_STACKS_REQ),
	MSG(GCS_MSG_DUMP_STACKS_RESP, gcs_proto_dump_stacks_resp, stacks_resp_decode,
	    stacks_resp_encode),
	REQ_BASE(GCS_MSG_DELETE_CONTAINER_STATE_REQ),
	RESP_BASE(GCS_MSG_DELETE_CONTAINER_STATE_RESP),
	MSG(GCS_MSG_UPDATE_CONTAINER_REQ, gcs_proto_opaque_req, opaque_req_decode,
	    opaque_req_encode),
	RESP_BASE(GCS_MSG_UPDATE_CONTAINER_RESP),
	MSG(GCS_MSG_LIFECYCLE_NOTIFICATION_REQ, gcs_proto_opaque_req, opaque_req_decode,
	    opaque_req_encode),
	RESP_BASE(GCS_MSG_LIFECYCLE_NOTIFICATION_RESP),
	MSG(GCS_MSG_MODIFY_SERVICE_SETTINGS_REQ, gcs_proto_service_settings_req, service_req_decode,
	    service_req_encode),
	RESP_BASE(GCS_MSG_MODIFY_SERVICE_SETTINGS_RESP),
	MSG(GCS_MSG_CONTAINER_NOTIFY, gcs_proto_notification, notify_decode, notify_encode),
};

static const struct codec *codec_find(uint32_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(codecs); i++)
		if (codecs[i].type == type)
			return &codecs[i];
	return NULL;
}

int gcs_proto_msg_struct(uint32_t type, const char **ret_name, size_t *ret_size)
{
	const struct codec *c = codec_find(type);

	if (!c)
		return -ENOENT;
	if (ret_name)
		*ret_name = c->struct_name;
	if (ret_size)
		*ret_size = c->size;
	return 0;
}

/* Requests and the notification start with the request base; responses with the response base. */
static bool has_request_base(uint32_t type)
{
	return !gcs_msg_is_response(type);
}

static int parse_body(struct jd *d, const char *body, size_t len, json_t **ret)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr);

	if (!root)
		return jd_fail(d, "invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
			       jerr.column);
	if (!json_is_object(root)) {
		json_decref(root);
		return jd_fail(d, "invalid JSON: the body is not an object");
	}
	*ret = root;
	return 0;
}

int gcs_proto_decode(uint32_t type, const char *body, size_t len, void *ret, struct gcs_error *err)
{
	const struct codec *c = codec_find(type);
	union gcs_proto_msg *m = ret;
	struct jd d = { .own = &m->own, .err = err };
	char name[64];
	json_t *root;
	int rc;

	if (!c)
		return gcs_error_set(err, -ENOENT, HR_NOTIMPL, "unknown message type 0x%08x", type);
	memset(ret, 0, c->size);
	rc = parse_body(&d, body, len, &root);
	if (rc < 0)
		goto fail;
	rc = jd_keep(&d, root);
	if (rc < 0)
		goto fail;
	if (has_request_base(type))
		rc = request_base_decode(&d, root, &m->req);
	else
		rc = response_base_decode(&d, root, &m->resp);
	if (rc >= 0 && c->decode)
		rc = c->decode(&d, root, ret);
	if (rc >= 0)
		return 0;
fail:
	gcs_proto_release(ret);
	memset(ret, 0, c->size);
	return gcs_error_prefix(err, rc, "%s", gcs_proto_msg_name(type, name, sizeof(name)));
}

int gcs_proto_decode_request_base(const char *body, size_t len, struct gcs_proto_request_base *ret,
				  struct gcs_error *err)
{
	struct jd d = { .own = &ret->own, .err = err };
	json_t *root;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = parse_body(&d, body, len, &root);
	if (rc < 0)
		return rc;
	rc = jd_keep(&d, root);
	if (rc >= 0)
		rc = request_base_decode(&d, root, ret);
	if (rc < 0) {
		gcs_proto_release(ret);
		memset(ret, 0, sizeof(*ret));
	}
	return rc;
}

int gcs_proto_to_json(uint32_t type, const void *msg, json_t **ret, struct gcs_error *err)
{
	const struct codec *c = codec_find(type);
	struct je e = { .err = err };
	json_t *o;

	/* The answer to an unknown request is a response base of the derived type. */
	if (!c && gcs_msg_is_response(type))
		c = codec_find(GCS_MSG_START_RESP);
	if (!c)
		return gcs_error_set(err, -ENOENT, HR_NOTIMPL, "unknown message type 0x%08x", type);
	o = je_object(&e);
	if (!o)
		return e.rc;
	if (has_request_base(type))
		request_base_encode(&e, o, msg);
	else
		response_base_encode(&e, o, msg);
	/* Like the Go GCS, a failed request is answered with the base fields only. */
	if (c->encode && !(gcs_msg_is_response(type) &&
			   ((const struct gcs_proto_response_base *)msg)->result != 0))
		c->encode(&e, o, msg);
	if (e.rc < 0) {
		json_decref(o);
		return e.rc;
	}
	*ret = o;
	return 0;
}

int gcs_proto_encode_body(uint32_t type, const void *msg, enum gcs_proto_style style,
			  char **ret_body, size_t *ret_len, struct gcs_error *err)
{
	json_auto_t *o = NULL;
	char *s;
	size_t len;
	int rc = gcs_proto_to_json(type, msg, &o, err);

	if (rc < 0)
		return rc;
	s = gcs_proto_json_dumps(o, style);
	if (!s)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "encode: out of memory");
	len = strlen(s);
	if (style == GCS_PROTO_STYLE_HOST) {
		/* json.Encoder ends every value with a newline. */
		char *t = realloc(s, len + 2);
		if (!t) {
			free(s);
			return gcs_error_set(err, -ENOMEM, HR_FAIL, "encode: out of memory");
		}
		s = t;
		s[len++] = '\n';
		s[len] = '\0';
	}
	*ret_body = s;
	*ret_len = len;
	return 0;
}

int gcs_proto_encode_frame(uint32_t type, uint64_t id, const void *msg, enum gcs_proto_style style,
			   char **ret_frame, size_t *ret_len, struct gcs_error *err)
{
	_cleanup_free_ char *body = NULL;
	struct gcs_header h;
	char *frame;
	size_t len;
	int rc = gcs_proto_encode_body(type, msg, style, &body, &len, err);

	if (rc < 0)
		return rc;
	/* The host kills the bridge on anything bigger from the guest. */
	if (!gcs_msg_is_request(type) && len + GCS_HEADER_SIZE > GCS_MAX_GUEST_MESSAGE)
		return gcs_error_set(err, -EMSGSIZE, HR_FAIL,
				     "message of %zu bytes exceeds the bridge limit of %u bytes",
				     len + GCS_HEADER_SIZE, GCS_MAX_GUEST_MESSAGE);
	if (len + GCS_HEADER_SIZE > UINT32_MAX)
		return gcs_error_set(err, -EMSGSIZE, HR_FAIL, "message too large");
	frame = malloc(GCS_HEADER_SIZE + len);
	if (!frame)
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "encode: out of memory");
	h = (struct gcs_header){ .type = type,
				 .size = (uint32_t)(GCS_HEADER_SIZE + len),
				 .id = id };
	gcs_proto_header_encode(&h, (uint8_t *)frame);
	memcpy(frame + GCS_HEADER_SIZE, body, len);
	*ret_frame = frame;
	*ret_len = GCS_HEADER_SIZE + len;
	return 0;
}
