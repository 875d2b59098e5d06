/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Group cocoon, whose members may call the manager: its gid, looked up at start and again, off the event
 * loop, whenever /etc/group changes. Membership itself is the peer's own (SO_PEERGROUPS, manager-varlink.c),
 * so only the gid is needed here. */
#include <grp.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "job-queue.h"
#include "log.h"
#include "manager.h"

#define COCOON_GROUP "cocoon"
#define GROUP_FILE_DIR "/etc"
#define GROUP_FILE_NAME "group"

/* The gid of `name` per the user database (NSS: may block, so never on the loop once it runs). -ENOENT when
 * there is no such group. Thread-safe. */
static int group_lookup(const char *name, gid_t *ret) {
        long size_max = sysconf(_SC_GETGR_R_SIZE_MAX);
        size_t size = size_max > 0 ? (size_t) size_max : 4096;

        for (;;) {
                _cleanup_free_ char *buf = malloc(size);
                struct group g, *result = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getgrnam_r(name, &g, buf, size, &result);
                if (r == ERANGE && size < 1024 * 1024) {
                        size *= 2;
                        continue;
                }
                if (r != 0)
                        return -r;
                if (!result)
                        return -ENOENT;
                *ret = g.gr_gid;
                return 0;
        }
}

static void group_set(Manager *m, int result, gid_t gid) {
        gid_t new_gid = result >= 0 ? gid : (gid_t) -1;

        if (result < 0 && result != -ENOENT) {
                log_warning_errno(result, "Failed to look up group " COCOON_GROUP ", keeping what we had: %m");
                return;
        }
        if (new_gid == m->cocoon_gid)
                return;
        if (new_gid == (gid_t) -1)
                log_info("Group " COCOON_GROUP " does not exist (any more): only root may call.");
        else
                log_info("Group " COCOON_GROUP " is gid %u: its members may call.", (unsigned) new_gid);
        m->cocoon_gid = new_gid;
}

typedef struct GroupLookup {
        Manager *manager;
        gid_t gid;
} GroupLookup;

static int lookup_work(void *userdata) {
        GroupLookup *l = userdata;
        return group_lookup(COCOON_GROUP, &l->gid);
}

static void lookup_submit(Manager *m);

static void lookup_done(int result, void *userdata) {
        _cleanup_free_ GroupLookup *l = userdata;
        Manager *m = l->manager;

        if (result == -ECANCELED)
                return; /* shutting down */
        m->group_lookup_running = false;
        group_set(m, result, l->gid);
        /* /etc/group changed again while we looked: look again, the answer may be stale. */
        if (m->group_lookup_again) {
                m->group_lookup_again = false;
                lookup_submit(m);
        }
}

static void lookup_submit(Manager *m) {
        GroupLookup *l;
        int r;

        if (m->group_lookup_running) {
                m->group_lookup_again = true;
                return;
        }
        l = calloc(1, sizeof(GroupLookup));
        if (!l) {
                log_oom();
                return;
        }
        l->manager = m;
        r = job_submit(m->jobs, lookup_work, lookup_done, l);
        if (r < 0) {
                free(l);
                log_warning_errno(r, "Failed to look up group " COCOON_GROUP " again: %m");
                return;
        }
        m->group_lookup_running = true;
}

static int on_group_file_changed(sd_event_source *s, const struct inotify_event *event, void *userdata) {
        /* Tools replace the file (write group+, rename): watch the directory, pick the name. */
        if ((event->mask & IN_Q_OVERFLOW) || (event->len > 0 && streq(event->name, GROUP_FILE_NAME)))
                lookup_submit(userdata);
        return 0;
}

int manager_group_init(Manager *m) {
        gid_t gid = (gid_t) -1;
        int r;

        /* Before the loop serves anyone: the first caller after a socket activation is judged right. */
        m->cocoon_gid = (gid_t) -1;
        r = group_lookup(COCOON_GROUP, &gid);
        group_set(m, r, gid);

        r = sd_event_add_inotify(m->event, &m->group_watch, GROUP_FILE_DIR,
                                 IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                         IN_ONLYDIR,
                                 on_group_file_changed, m);
        if (r < 0)
                log_warning_errno(r, "Cannot watch " GROUP_FILE_DIR "/" GROUP_FILE_NAME
                                  ", a new or changed group " COCOON_GROUP " needs a restart: %m");
        else
                (void) sd_event_source_set_description(m->group_watch, "group-file");
        return 0;
}
