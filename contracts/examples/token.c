/* A fungible token. Messages (little endian):
 *   instantiate: supply u64                        -> the creator holds the supply
 *   execute 1:   to 20 | amount u64                -> transfer; event "transfer" from|to|amount
 *   query 1:     account 20                        -> returns its balance u64
 *   query 2:     (none)                            -> returns the total supply u64
 * Storage: "s" -> supply; "b" | account -> balance. */
#include "coinium.h"

static u64 balance_of(const u8 account[20]) {
    u8 key[21] = {'b'};
    u8 value[8];
    cn_copy(key + 1, account, 20);
    return cn_storage_get(key, 21, value, 8) == 8 ? cn_load_u64(value) : 0;
}

static void set_balance(const u8 account[20], u64 amount) {
    u8 key[21] = {'b'};
    u8 value[8];
    cn_copy(key + 1, account, 20);
    cn_store_u64(value, amount);
    cn_storage_set(key, 21, value, 8);
}

ENTRY(instantiate) {
    cn_env *env; u8 *msg;
    if (cn_read_input(&env, &msg) != 8) CN_REVERT("init message: supply u64");
    cn_storage_set("s", 1, msg, 8);
    set_balance(env->caller, cn_load_u64(msg));
    return 0;
}

ENTRY(execute) {
    cn_env *env; u8 *msg;
    i32 length = cn_read_input(&env, &msg);
    if (length != 29 || msg[0] != 1) CN_REVERT("unknown message");
    const u8 *to = msg + 1;
    u64 amount = cn_load_u64(msg + 21);
    u64 from_balance = balance_of(env->caller);
    if (from_balance < amount) CN_REVERT("insufficient balance");
    if (!cn_equal(env->caller, to, 20)) {
        set_balance(env->caller, from_balance - amount);
        set_balance(to, balance_of(to) + amount);
    }
    u8 event[48];
    cn_copy(event, env->caller, 20);
    cn_copy(event + 20, to, 20);
    cn_store_u64(event + 40, amount);
    cn_emit("transfer", 8, event, 48);
    return 0;
}

ENTRY(query) {
    cn_env *env; u8 *msg;
    i32 length = cn_read_input(&env, &msg);
    u8 out[8];
    if (length == 21 && msg[0] == 1) {
        cn_store_u64(out, balance_of(msg + 1));
    } else if (length == 1 && msg[0] == 2) {
        if (cn_storage_get("s", 1, out, 8) != 8) cn_store_u64(out, 0);
    } else {
        CN_REVERT("unknown query");
    }
    cn_set_return(out, 8);
    return 0;
}
