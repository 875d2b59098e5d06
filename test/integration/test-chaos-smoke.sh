#!/usr/bin/env bash
# test-chaos-smoke.sh: the short form of the chaos suite (test/chaos/chaos.py --smoke, tools/chaos runs the
# long ones): 24 mixed operations from 4 clients against real guests, the manager kill -9'd twice meanwhile;
# after each kill and at the end every record parses, accepted creates exist, nothing is left creating,
# names are unique, running VMs ⇔ active units, and after gc nothing is left without an owner.
# COCOON_CHAOS_SEED picks another seed (default 1).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -f "$COCOON_BUILD_DIR/guest/guest.env" ] ||
        fail "no test guest (tools/test builds it with test/guest/build.sh)"
python3 "$COCOON_SOURCE_DIR/test/chaos/chaos.py" ops --smoke --seed "${COCOON_CHAOS_SEED:-1}" ||
        fail "the chaos smoke run failed (replay: tools/chaos --smoke --seed ${COCOON_CHAOS_SEED:-1})"
info "ok"
