/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Interface io.cocoon.Image: import, list, inspect and delete local images (kernel, initrd, rootfs). */
#include "varlink-interfaces.h"

static const VarlinkField file_fields[] = {
        {.name = "blob", .type = VARLINK_STRING, .doc = "SHA-256 hex of the content."},
        {.name = "size", .type = VARLINK_INT, .doc = "Bytes."},
        {},
};

static const VarlinkSymbol type_file = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "File",
        .input = file_fields,
        .doc = "One file of an image, stored once per content.",
};

static const VarlinkField image_fields[] = {
        {.name = "type", .type = VARLINK_STRING, .doc = "local (imported files) or oci (pulled)."},
        {.name = "name", .type = VARLINK_STRING, .doc = "OCI images: the normalized reference."},
        {.name = "id", .type = VARLINK_STRING, .doc = "26 characters of lowercase base32."},
        {.name = "digest",
         .type = VARLINK_STRING,
         .doc = "sha256:<hex> of the files and command line; OCI images: the manifest's digest."},
        {.name = "kernel",
         .type = VARLINK_NAMED,
         .named_type = "File",
         .flags = VARLINK_NULLABLE,
         .doc = "Always there for local images; OCI images have one when a layer brings it."},
        {.name = "initrd", .type = VARLINK_NAMED, .named_type = "File", .flags = VARLINK_NULLABLE},
        {.name = "rootfs", .type = VARLINK_NAMED, .named_type = "File", .flags = VARLINK_NULLABLE},
        {.name = "cmdline", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE},
        {.name = "createdAt", .type = VARLINK_STRING, .doc = "RFC 3339."},
        {.name = "size", .type = VARLINK_INT, .doc = "Sum of the files' sizes in bytes."},
        {.name = "layers",
         .type = VARLINK_NAMED,
         .named_type = "File",
         .flags = VARLINK_ARRAY | VARLINK_NULLABLE,
         .doc = "OCI images: the layers as EROFS images, base first; blob is the layer digest's hex."},
        {},
};

static const VarlinkSymbol type_image = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Image",
        .input = image_fields,
        .doc = "An image record.",
};

static const VarlinkField import_in[] = {
        {.name = "name", .type = VARLINK_STRING, .doc = "[A-Za-z0-9][A-Za-z0-9._-]{0,62}, unique."},
        {.name = "kernelFileDescriptor",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "Index of the kernel among the file descriptors passed with this call (SCM_RIGHTS, as "
                "varlinkctl --push-fd): an open regular file. The kernel is required, as a descriptor or, "
                "for root only, as a path."},
        {.name = "initrdFileDescriptor", .type = VARLINK_INT, .flags = VARLINK_NULLABLE},
        {.name = "rootfsFileDescriptor",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "A raw ext2/3/4 file system image."},
        {.name = "kernel",
         .type = VARLINK_STRING,
         .flags = VARLINK_NULLABLE,
         .doc = "Root only: absolute path in the caller's root directory, without symbolic links."},
        {.name = "initrd", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE, .doc = "Root only."},
        {.name = "rootfs", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE, .doc = "Root only."},
        {.name = "cmdline",
         .type = VARLINK_STRING,
         .flags = VARLINK_NULLABLE,
         .doc = "Kernel command line, up to 1024 printable ASCII characters."},
        {},
};

static const VarlinkField image_out[] = {
        {.name = "image", .type = VARLINK_NAMED, .named_type = "Image"},
        {},
};

static const VarlinkField import_out[] = {
        {.name = "image",
         .type = VARLINK_NAMED,
         .named_type = "Image",
         .flags = VARLINK_NULLABLE,
         .doc = "In the final reply."},
        {.name = "bytesDone",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "In the replies before it (continues: true), when called with more: bytes copied so far."},
        {.name = "bytesTotal",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "With bytesDone: the files' sizes added up."},
        {},
};

static const VarlinkSymbol method_import = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Import",
        .flags = VARLINK_SUPPORTS_MORE,
        .input = import_in,
        .output = import_out,
        .doc = "Copies files into the image store. Callers pass them open, as file descriptors: what they "
               "could open is what they can import. The manager opens no path for a caller other than "
               "root. Called with more, the replies before the final one report progress (about five a "
               "second while bytes are copied); without more there is one reply. A caller that disconnects "
               "cancels the import: nothing of it stays (no blob it created, no temporary file, no record).",
};

static const VarlinkField pull_in[] = {
        {.name = "reference",
         .type = VARLINK_STRING,
         .doc = "An image reference as docker takes it: busybox is docker.io/library/busybox:latest; "
                "host[:port]/path[:tag][@sha256:<hex>]."},
        {.name = "insecure",
         .type = VARLINK_BOOL,
         .flags = VARLINK_NULLABLE,
         .doc = "Talk plain HTTP to the registry (default false: HTTPS)."},
        {},
};

static const VarlinkField layer_progress_fields[] = {
        {.name = "bytesDone", .type = VARLINK_INT},
        {.name = "bytesTotal", .type = VARLINK_INT, .doc = "The layer's size in the manifest."},
        {},
};

static const VarlinkSymbol type_layer_progress = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "LayerProgress",
        .input = layer_progress_fields,
        .doc = "How far one layer of a pull is (a layer already in the store counts as done).",
};

static const VarlinkField pull_out[] = {
        {.name = "image",
         .type = VARLINK_NAMED,
         .named_type = "Image",
         .flags = VARLINK_NULLABLE,
         .doc = "In the final reply."},
        {.name = "bytesDone",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "Progress replies: all layers."},
        {.name = "bytesTotal", .type = VARLINK_INT, .flags = VARLINK_NULLABLE},
        {.name = "layers",
         .type = VARLINK_NAMED,
         .named_type = "LayerProgress",
         .flags = VARLINK_ARRAY | VARLINK_NULLABLE,
         .doc = "Progress replies: per layer, in manifest order."},
        {},
};

static const VarlinkSymbol method_pull = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Pull",
        .flags = VARLINK_SUPPORTS_MORE,
        .input = pull_in,
        .output = pull_out,
        .doc = "Pulls an OCI image from a registry: the manifest (from an index: linux and this host's "
               "architecture), the config and the layers (several at once), every blob's sha256 checked "
               "as it arrives; each layer becomes an EROFS image. Credentials come from "
               "/etc/cocoon/auth.json (containers-auth.json). Layers already in the store are not fetched "
               "again; pulling an image that did not change writes nothing. Called with more, the replies "
               "before the final one report progress. A caller that disconnects cancels the pull: nothing "
               "of it stays.",
};

static const VarlinkField import_oci_in[] = {
        {.name = "name", .type = VARLINK_STRING, .doc = "The image's name (as for Import)."},
        {.name = "fileDescriptor",
         .type = VARLINK_INT,
         .doc = "Index of the passed file descriptor: an OCI image layout directory (oci-layout, "
                "index.json, blobs/sha256/), or a tar of one (skopeo oci-archive:) or a docker archive "
                "(docker save, skopeo docker-archive:), plain or gzipped, told apart by their content; or "
                "one layer: a tar or gzipped tar with no manifest.json, index.json or oci-layout at its "
                "top."},
        {.name = "moreFileDescriptors",
         .type = VARLINK_INT,
         .flags = VARLINK_ARRAY | VARLINK_NULLABLE,
         .doc = "Indexes of further passed file descriptors: then each file, fileDescriptor's first, is "
                "one layer (a tar or a gzipped tar, the first the bottom one) of an image made for linux "
                "and this host, its diff_id the sha256 of the uncompressed tar."},
        {},
};

static const VarlinkSymbol method_import_oci = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "ImportOCI",
        .flags = VARLINK_SUPPORTS_MORE,
        .input = import_oci_in,
        .output = pull_out,
        .doc = "Imports a local OCI image the way Pull fetches one from a registry: the image of "
               "index.json (its only entry, else the one for linux and this host's architecture), every "
               "blob checked against its digest (a docker archive's config against its file name, its "
               "layers against the config's diff_ids), each layer an EROFS image. No symbolic link in "
               "the caller's files is followed. Progress and cancellation as for Pull.",
};

static const VarlinkField list_out[] = {
        {.name = "images", .type = VARLINK_NAMED, .named_type = "Image", .flags = VARLINK_ARRAY},
        {},
};

static const VarlinkSymbol method_list = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "List",
        .output = list_out,
        .doc = "All images, oldest first.",
};

static const VarlinkField ref_in[] = {
        {.name = "ref",
         .type = VARLINK_STRING,
         .doc = "Id, name, or unique id prefix of at least 3 characters."},
        {},
};

static const VarlinkSymbol method_inspect = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Inspect",
        .input = ref_in,
        .output = image_out,
        .doc = "One image by reference.",
};

static const VarlinkSymbol method_delete = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Delete",
        .input = ref_in,
        .doc = "Removes an image and the blobs nothing else uses. Refused while a VM uses its files.",
};

static const VarlinkField no_such_image_fields[] = {
        {.name = "reference", .type = VARLINK_STRING},
        {.name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE},
        {},
};

static const VarlinkField image_in_use_fields[] = {
        {.name = "name", .type = VARLINK_STRING},
        {.name = "vms", .type = VARLINK_STRING, .flags = VARLINK_ARRAY, .doc = "Ids of the VMs using it."},
        {.name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE},
        {},
};

static const VarlinkField name_in_use_fields[] = {
        {.name = "name", .type = VARLINK_STRING},
        {.name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE},
        {},
};

static const VarlinkField invalid_image_fields[] = {
        {.name = "field",
         .type = VARLINK_STRING,
         .doc = "name, kernel, initrd, rootfs, their …FileDescriptor, or cmdline; reference for Pull "
                "(a bad reference, manifest or config, a blob not matching its digest, an unsafe "
                "layer); fileDescriptor for ImportOCI (the same about the caller's files)."},
        {.name = "message", .type = VARLINK_STRING},
        {},
};

static const VarlinkField registry_error_fields[] = {
        {.name = "reference", .type = VARLINK_STRING},
        {.name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE},
        {},
};

static const VarlinkSymbol error_authentication_failed = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "AuthenticationFailed",
        .input = registry_error_fields,
        .doc = "The registry refused the credentials of auth.json, or wants some and there are none.",
};
static const VarlinkSymbol error_pull_failed = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "PullFailed",
        .input = registry_error_fields,
        .doc = "The registry could not be reached, or a layer could not be converted; message says why.",
};

static const VarlinkSymbol error_no_such_image = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "NoSuchImage",
        .input = no_such_image_fields,
        .doc = "No image, or several images, match the reference; for Pull: the registry has no such "
               "repository, tag or digest, or no image for this platform (message: the registry's words).",
};
static const VarlinkSymbol error_image_in_use = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "ImageInUse",
        .input = image_in_use_fields,
};
static const VarlinkSymbol error_name_in_use = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "NameInUse",
        .input = name_in_use_fields,
};
static const VarlinkSymbol error_invalid_image = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "InvalidImage",
        .input = invalid_image_fields,
        .doc = "A parameter or one of the files is not acceptable.",
};

static const VarlinkSymbol *const symbols[] = {
        &type_file,          &type_image,         &type_layer_progress, &method_import,
        &method_pull,        &method_list,        &method_inspect,      &method_delete,
        &error_no_such_image, &error_image_in_use, &error_name_in_use,  &error_invalid_image,
        &error_authentication_failed, &error_pull_failed, &method_import_oci, NULL,
};

const VarlinkInterface vl_interface_io_cocoon_Image = {
        .name = "io.cocoon.Image",
        .symbols = symbols,
        .doc = "Local images: the files a VM boots from.",
};
