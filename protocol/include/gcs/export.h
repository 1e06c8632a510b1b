/* Symbol visibility for libgcsproto: everything is hidden unless marked. */
#pragma once

#define GCS_PROTO_EXPORT __attribute__((visibility("default")))
