/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Varlink interfaces cocoon-manager serves, declared once as static tables. */
#pragma once

#include "varlink-idl.h"

/* Errors shared by every cocoon interface (PermissionDenied, System). */
extern const VarlinkInterface vl_interface_io_cocoon;
extern const VarlinkInterface vl_interface_io_cocoon_Manager;
extern const VarlinkInterface vl_interface_io_cocoon_VM;
extern const VarlinkInterface vl_interface_io_cocoon_Image;
extern const VarlinkInterface vl_interface_io_cocoon_Snapshot;
/* Served by the network helper cocoon-network, not by the manager. */
extern const VarlinkInterface vl_interface_io_cocoon_Network;

#define COCOON_ERROR_PERMISSION_DENIED "io.cocoon.PermissionDenied"
#define COCOON_ERROR_SYSTEM "io.cocoon.System"
#define COCOON_ERROR_SHUTTING_DOWN "io.cocoon.ShuttingDown"

#define VM_ERROR_NO_SUCH_VM "io.cocoon.VM.NoSuchVM"
#define VM_ERROR_AMBIGUOUS_REFERENCE "io.cocoon.VM.AmbiguousReference"
#define VM_ERROR_NAME_IN_USE "io.cocoon.VM.NameInUse"
#define VM_ERROR_INVALID_STATE "io.cocoon.VM.InvalidState"
#define VM_ERROR_INVALID_CONFIGURATION "io.cocoon.VM.InvalidConfiguration"
#define VM_ERROR_NOT_SUPPORTED "io.cocoon.VM.NotSupported"
#define VM_ERROR_HYPERVISOR_FAILED "io.cocoon.VM.HypervisorFailed"
#define VM_ERROR_RECORD_NOT_WRITTEN "io.cocoon.VM.RecordNotWritten"
#define VM_ERROR_SUBSCRIBER_TOO_SLOW "io.cocoon.VM.SubscriberTooSlow"
#define VM_ERROR_NO_SUCH_SNAPSHOT "io.cocoon.VM.NoSuchSnapshot"
#define VM_ERROR_INCOMPATIBLE_SNAPSHOT "io.cocoon.VM.IncompatibleSnapshot"
#define VM_ERROR_NETWORK_FAILED "io.cocoon.VM.NetworkFailed"

#define NETWORK_ERROR_FAILED "io.cocoon.Network.Failed"

#define IMAGE_ERROR_NO_SUCH_IMAGE "io.cocoon.Image.NoSuchImage"
#define IMAGE_ERROR_IMAGE_IN_USE "io.cocoon.Image.ImageInUse"
#define IMAGE_ERROR_NAME_IN_USE "io.cocoon.Image.NameInUse"
#define IMAGE_ERROR_INVALID_IMAGE "io.cocoon.Image.InvalidImage"
#define IMAGE_ERROR_AUTHENTICATION_FAILED "io.cocoon.Image.AuthenticationFailed"
#define IMAGE_ERROR_PULL_FAILED "io.cocoon.Image.PullFailed"

#define SNAPSHOT_ERROR_NO_SUCH_SNAPSHOT "io.cocoon.Snapshot.NoSuchSnapshot"
#define SNAPSHOT_ERROR_NO_SUCH_VM "io.cocoon.Snapshot.NoSuchVM"
#define SNAPSHOT_ERROR_NAME_IN_USE "io.cocoon.Snapshot.NameInUse"
#define SNAPSHOT_ERROR_INVALID_STATE "io.cocoon.Snapshot.InvalidState"
#define SNAPSHOT_ERROR_INVALID_CONFIGURATION "io.cocoon.Snapshot.InvalidConfiguration"
#define SNAPSHOT_ERROR_INCOMPATIBLE_SNAPSHOT "io.cocoon.Snapshot.IncompatibleSnapshot"
#define SNAPSHOT_ERROR_SNAPSHOT_FAILED "io.cocoon.Snapshot.SnapshotFailed"
#define SNAPSHOT_ERROR_INVALID_ARCHIVE "io.cocoon.Snapshot.InvalidArchive"
