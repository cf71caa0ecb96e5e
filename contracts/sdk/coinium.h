/* Coinium contract SDK for C (clang --target=wasm32 -mcpu=mvp, no libc): the host API
 * (docs/CONTRACTS.md) and a few helpers. Integers only: the chain refuses floats. */
#ifndef COINIUM_H
#define COINIUM_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef long long i64;

#define HOST(name) __attribute__((import_module("env"), import_name(#name)))
#define ENTRY(name) __attribute__((export_name(#name))) i32 name(void)

HOST(input) i32 cn_input(void *buffer, i32 capacity);
HOST(storage_get) i32 cn_storage_get(const void *key, i32 key_len, void *value, i32 capacity);
HOST(storage_set) void cn_storage_set(const void *key, i32 key_len, const void *value, i32 len);
HOST(storage_remove) void cn_storage_remove(const void *key, i32 key_len);
HOST(balance) i64 cn_balance(const u8 account[20]);
HOST(send) i32 cn_send(const u8 account[20], i64 amount);
HOST(emit) void cn_emit(const void *topic, i32 topic_len, const void *data, i32 data_len);
HOST(call) i32 cn_call(const u8 contract[20], const void *msg, i32 msg_len, i64 coins, i64 gas);
HOST(return_data) i32 cn_return_data(void *buffer, i32 capacity);
HOST(set_return) void cn_set_return(const void *data, i32 len);
HOST(revert) void cn_revert(const void *message, i32 len);

/* What `input` writes before the message. */
typedef struct {
    u8 caller[20];
    u8 contract[20];
    u64 height;
    u64 time;
    u64 coins;
} cn_env;

#define CN_MAX_MESSAGE 4096
static u8 cn_buffer[sizeof(cn_env) + CN_MAX_MESSAGE];

/* Reads the environment and message once; returns the message length (or -1 if too long). */
static inline i32 cn_read_input(cn_env **env, u8 **message) {
    i32 total = cn_input(cn_buffer, sizeof cn_buffer);
    *env = (cn_env *)cn_buffer;
    *message = cn_buffer + sizeof(cn_env);
    return total > (i32)sizeof cn_buffer ? -1 : total - (i32)sizeof(cn_env);
}

static inline u64 cn_load_u64(const u8 *p) {
    u64 v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline void cn_store_u64(u8 *p, u64 v) {
    for (int i = 0; i < 8; i++) { p[i] = (u8)v; v >>= 8; }
}

static inline int cn_equal(const u8 *a, const u8 *b, int n) {
    for (int i = 0; i < n; i++) if (a[i] != b[i]) return 0;
    return 1;
}

static inline void cn_copy(u8 *to, const u8 *from, int n) {
    for (int i = 0; i < n; i++) to[i] = from[i];
}

#define CN_REVERT(text) cn_revert(text, sizeof(text) - 1)

/* clang may call these for struct copies; without libc the contract defines them. */
void *memcpy(void *to, const void *from, unsigned long n) {
    u8 *t = to; const u8 *f = from;
    while (n--) *t++ = *f++;
    return to;
}

void *memset(void *to, int value, unsigned long n) {
    u8 *t = to;
    while (n--) *t++ = (u8)value;
    return to;
}

#endif
