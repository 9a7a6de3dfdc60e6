/*
 * lvmx.hash: FNV-1a hashes of Lua strings (32 and 64 bit).
 * Copyright (c) 2025 the lvm authors. MIT license (see LICENSE).
 *
 * FNV-1a is a fast, non-cryptographic hash: good for hash tables, cache keys and
 * change detection, never for passwords or signatures.
 */
#include <stdint.h>
#include <stdio.h>

#include "lua.h"
#include "lauxlib.h"

static uint32_t fnv1a_32(const unsigned char *s, size_t len) {
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < len; i++) {
        h ^= s[i];
        h *= 16777619u;
    }
    return h;
}

static uint64_t fnv1a_64(const unsigned char *s, size_t len) {
    uint64_t h = 14695981039346656037ull;
    size_t i;
    for (i = 0; i < len; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* fnv1a32(s) -> integer in [0, 2^32) */
static int l_fnv1a32(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    uint32_t h = fnv1a_32((const unsigned char *)s, len);
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)h);
#else
    /* A double holds every 32-bit value exactly. */
    lua_pushnumber(L, (lua_Number)h);
#endif
    return 1;
}

/* Writes `bits / 4` lower-case hex digits of `value`. */
static void push_hex(lua_State *L, uint64_t value, int bits) {
    char buf[17];
    int digits = bits / 4;
    int i;
    for (i = digits - 1; i >= 0; i--) {
        buf[i] = "0123456789abcdef"[value & 0xf];
        value >>= 4;
    }
    lua_pushlstring(L, buf, (size_t)digits);
}

/* hex32(s) -> 8 hex digits */
static int l_hex32(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    push_hex(L, fnv1a_32((const unsigned char *)s, len), 32);
    return 1;
}

/* hex64(s) -> 16 hex digits (64-bit values do not fit Lua 5.1's numbers exactly) */
static int l_hex64(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    push_hex(L, fnv1a_64((const unsigned char *)s, len), 64);
    return 1;
}

static const luaL_Reg functions[] = {
    {"fnv1a32", l_fnv1a32},
    {"hex32", l_hex32},
    {"hex64", l_hex64},
    {NULL, NULL}
};

int luaopen_lvmx_hash(lua_State *L) {
#if LUA_VERSION_NUM >= 502
    luaL_newlib(L, functions);
#else
    luaL_register(L, "lvmx.hash", functions);
#endif
    lua_pushliteral(L, "1.0.0");
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
