/* An escrow: the creator locks the coins attached at instantiation until the arbiter releases
 * them to the beneficiary or refunds them to the creator.
 *   instantiate: arbiter 20 | beneficiary 20       (attach the coins to hold)
 *   execute 1:   release (arbiter only)            -> coins to the beneficiary, event "released"
 *   execute 2:   refund (arbiter only)             -> coins to the creator, event "refunded"
 *   query:       (none)                            -> arbiter | beneficiary | creator | open u8
 * Storage: "p" -> arbiter | beneficiary | creator | open. */
#include "coinium.h"

#define PARTIES 61

ENTRY(instantiate) {
    cn_env *env; u8 *msg;
    if (cn_read_input(&env, &msg) != 40) CN_REVERT("init message: arbiter 20 | beneficiary 20");
    if (env->coins == 0) CN_REVERT("attach the coins to hold");
    u8 parties[PARTIES];
    cn_copy(parties, msg, 40);
    cn_copy(parties + 40, env->caller, 20);
    parties[60] = 1;
    cn_storage_set("p", 1, parties, PARTIES);
    return 0;
}

ENTRY(execute) {
    cn_env *env; u8 *msg;
    i32 length = cn_read_input(&env, &msg);
    u8 parties[PARTIES];
    if (cn_storage_get("p", 1, parties, PARTIES) != PARTIES) CN_REVERT("not set up");
    if (length != 1 || (msg[0] != 1 && msg[0] != 2)) CN_REVERT("unknown message");
    if (!cn_equal(env->caller, parties, 20)) CN_REVERT("only the arbiter decides");
    if (!parties[60]) CN_REVERT("already settled");
    const u8 *to = msg[0] == 1 ? parties + 20 : parties + 40;
    i64 held = cn_balance(env->contract);
    if (cn_send(to, held) != 0) CN_REVERT("send failed");
    parties[60] = 0;
    cn_storage_set("p", 1, parties, PARTIES);
    u8 event[28];
    cn_copy(event, to, 20);
    cn_store_u64(event + 20, (u64)held);
    if (msg[0] == 1) cn_emit("released", 8, event, 28);
    else cn_emit("refunded", 8, event, 28);
    return 0;
}

ENTRY(query) {
    u8 parties[PARTIES];
    if (cn_storage_get("p", 1, parties, PARTIES) != PARTIES) CN_REVERT("not set up");
    cn_set_return(parties, PARTIES);
    return 0;
}
