/*
 * mpx.h - umbrella header of mpx, Python's multiprocessing model for C.
 *
 * Conventions (docs/design.md): every call returns 0 on success and a
 * negative code on failure (errors.h); timeouts are mpx_duration
 * milliseconds with MPX_FOREVER and MPX_NOWAIT; objects are opaque; each
 * declaration documents its Threads:, Fork: and Signals: behaviour.
 */
#ifndef MPX_H
#define MPX_H

#include "mpx/common.h"
#include "mpx/errors.h"
#include "mpx/log.h"
#include "mpx/process.h"
#include "mpx/context.h"
#include "mpx/sync.h"
#include "mpx/sharedctypes.h"
#include "mpx/queue.h"
#include "mpx/connection.h"
#include "mpx/pool.h"
#include "mpx/obj.h"
#include "mpx/manager.h"
#include "mpx/shm.h"

#endif /* MPX_H */
