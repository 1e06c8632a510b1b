/* Internal: per-message codecs shared between messages.c and resources.c. */
#pragma once

#include "json_util.h"

/* ModifySettings' nested Request (spec sections 7.9 and 10). */
int modify_request_decode(struct jd *d, json_t *request, struct gcs_proto_modify_req *m);
int modify_request_encode(struct je *e, json_t *o, const struct gcs_proto_modify_req *m);
