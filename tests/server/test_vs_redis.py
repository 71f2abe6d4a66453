"""Differential test: the same command sequences go to Debian's redis-server 7.0 and to
mirrorkv-server, and every reply must be identical byte for byte. This pins the error
texts, the option grammar and the reply shapes that client libraries depend on.

Each case runs on a fresh connection after FLUSHALL. Cases whose replies are legitimately
different (server identity, timing) are not listed; the few deliberate differences are
listed in KNOWN_DIFFERENCES with the reason. Skipped when redis-server is not installed.
"""

import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

C = harness.encode_command

# Each case: a list of commands (each a list of arguments), or raw bytes for inline tests.
CASES = {
    # Lists, sets, hashes and sorted sets (replies whose order Redis leaves unspecified,
    # SMEMBERS and HGETALL of several elements, are checked on one element).
    "lists": [["LPUSH", "l", "a", "b", "c"], ["RPUSH", "l", "d"], ["LRANGE", "l", "0", "-1"],
              ["LRANGE", "l", "-2", "-1"], ["LRANGE", "l", "5", "10"], ["LRANGE", "l", "-100", "1"],
              ["LRANGE", "l", "a", "1"], ["LLEN", "l"], ["LINDEX", "l", "-1"],
              ["LINDEX", "l", "9"], ["LSET", "l", "0", "z"], ["LSET", "l", "9", "z"],
              ["LSET", "nokey", "0", "z"], ["LREM", "l", "0", "b"], ["LINSERT", "l", "BEFORE", "z", "y"],
              ["LINSERT", "l", "AFTER", "nope", "y"], ["LINSERT", "l", "MIDDLE", "z", "y"],
              ["LINSERT", "nokey", "AFTER", "z", "y"], ["LTRIM", "l", "1", "-2"],
              ["LRANGE", "l", "0", "-1"], ["LPUSHX", "nokey", "a"], ["RPUSHX", "l", "q"],
              ["EXISTS", "nokey"], ["TYPE", "l"], ["GET", "l"], ["STRLEN", "l"],
              ["APPEND", "l", "x"], ["INCR", "l"], ["SET", "s", "v"], ["LPUSH", "s", "x"],
              ["LLEN", "s"], ["LPUSH", "l"]],
    "list_pops": [["RPUSH", "l", "a", "b", "c", "d"], ["LPOP", "l"], ["RPOP", "l", "2"],
                  ["LPOP", "l", "0"], ["LPOP", "l", "-1"], ["LPOP", "l", "x"],
                  ["LPOP", "l", "1", "2"], ["LPOP", "l", "5"], ["EXISTS", "l"], ["LPOP", "l"],
                  ["LPOP", "l", "2"], ["RPOP", "l", "0"], ["LTRIM", "l", "0", "-1"],
                  ["RPUSH", "t", "x"], ["LTRIM", "t", "1", "0"], ["EXISTS", "t"]],
    "sets": [["SADD", "s", "a", "b", "a"], ["SADD", "s", "b"], ["SCARD", "s"],
             ["SISMEMBER", "s", "a"], ["SISMEMBER", "s", "z"], ["SMISMEMBER", "s", "a", "z"],
             ["SMISMEMBER", "nokey", "a"], ["SREM", "s", "a", "z"], ["SMEMBERS", "s"],
             ["SMEMBERS", "nokey"], ["SPOP", "nokey"], ["SPOP", "nokey", "3"],
             ["SPOP", "s", "0"], ["SPOP", "s", "-1"], ["SPOP", "s", "1", "2"], ["SPOP", "s"],
             ["EXISTS", "s"], ["SCARD", "s"], ["TYPE", "s"], ["SET", "str", "v"],
             ["SADD", "str", "a"], ["SCARD", "str"], ["SISMEMBER", "str", "a"],
             ["SADD", "one", "x"], ["SPOP", "one", "5"], ["TYPE", "one"]],
    "hashes": [["HSET", "h", "f", "1", "g", "2"], ["HSET", "h", "f", "3"], ["HSET", "h", "f"],
               ["HGET", "h", "f"], ["HGET", "h", "z"], ["HGET", "nokey", "f"],
               ["HMGET", "h", "f", "z", "g"], ["HMGET", "nokey", "f"], ["HLEN", "h"],
               ["HEXISTS", "h", "g"], ["HEXISTS", "h", "z"], ["HSTRLEN", "h", "f"],
               ["HSTRLEN", "h", "z"], ["HSETNX", "h", "f", "9"], ["HSETNX", "h", "n", "9"],
               ["HINCRBY", "h", "f", "10"], ["HINCRBY", "h", "new", "-3"],
               ["HINCRBY", "h", "f", "x"], ["HSET", "h", "t", "abc"], ["HINCRBY", "h", "t", "1"],
               ["HSET", "h", "big", "9223372036854775807"], ["HINCRBY", "h", "big", "1"],
               ["HMSET", "h", "a", "b"], ["HDEL", "h", "f", "g", "n", "new", "t", "big", "zz"],
               ["HGETALL", "h"], ["HKEYS", "h"], ["HVALS", "h"], ["HGETALL", "nokey"],
               ["HDEL", "h", "a"], ["EXISTS", "h"], ["TYPE", "h"], ["SET", "str", "v"],
               ["HSET", "str", "f", "v"], ["HGETALL", "str"], ["HGET", "str", "f"]],
    "zsets": [["ZADD", "z", "1", "a", "2", "b", "3", "c"], ["ZADD", "z", "1.5", "a"],
              ["ZADD", "z", "CH", "1.5", "a", "9", "d"], ["ZADD", "z", "NX", "0", "a", "0", "e"],
              ["ZADD", "z", "XX", "5", "a", "5", "f"], ["ZADD", "z", "GT", "CH", "1", "a", "6", "b"],
              ["ZADD", "z", "LT", "CH", "10", "c"], ["ZADD", "z", "NX", "XX", "1", "a"],
              ["ZADD", "z", "GT", "LT", "1", "a"], ["ZADD", "z", "NX", "GT", "1", "a"],
              ["ZADD", "z", "INCR", "1", "a", "2", "b"], ["ZADD", "z", "1"],
              ["ZADD", "z", "x", "a"], ["ZADD", "z", "nan", "a"], ["ZADD", "z", "FOO", "1", "a"],
              ["ZADD", "z", "INCR", "2.5", "a"], ["ZADD", "z", "NX", "INCR", "2.5", "a"],
              ["ZADD", "z", "+inf", "top", "-inf", "bottom"], ["ZADD", "z", "INCR", "-inf", "top"],
              ["ZINCRBY", "z", "1", "new"], ["ZINCRBY", "z", "x", "new"],
              ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["ZRANGE", "z", "0", "2"],
              ["ZRANGE", "z", "-2", "-1", "REV", "WITHSCORES"], ["ZRANGE", "z", "5", "1"],
              ["ZRANGE", "nokey", "0", "-1"], ["ZSCORE", "z", "a"], ["ZSCORE", "z", "top"],
              ["ZSCORE", "z", "nope"], ["ZMSCORE", "z", "a", "nope", "bottom"],
              ["ZMSCORE", "nokey", "a"], ["ZCARD", "z"], ["ZCARD", "nokey"],
              ["ZRANK", "z", "c"], ["ZREVRANK", "z", "c"], ["ZRANK", "z", "nope"],
              ["ZREM", "z", "a", "nope"], ["TYPE", "z"], ["SET", "str", "v"],
              ["ZADD", "str", "1", "a"], ["ZSCORE", "str", "a"], ["ZADD", "f", "0.1", "m"],
              ["ZINCRBY", "f", "0.2", "m"], ["ZSCORE", "f", "m"]],
    "zset_pops": [["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"], ["ZPOPMIN", "z"],
                  ["ZPOPMAX", "z", "2"], ["ZPOPMIN", "z", "0"], ["ZPOPMIN", "z", "-1"],
                  ["ZPOPMIN", "z", "1", "2"], ["ZPOPMIN", "z", "5"], ["EXISTS", "z"],
                  ["ZPOPMIN", "z"], ["ZPOPMAX", "nokey", "3"], ["SET", "s", "v"],
                  ["ZPOPMIN", "s"]],
    "collections_resp3": [["HELLO", "3"], ["ZADD", "z", "1", "a", "2.5", "b", "inf", "c"],
                          ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["ZSCORE", "z", "c"],
                          ["ZMSCORE", "z", "a", "x"], ["ZPOPMIN", "z"], ["ZPOPMAX", "z", "1"],
                          ["ZINCRBY", "z", "1", "q"], ["ZADD", "z", "XX", "INCR", "1", "zz"],
                          ["HSET", "h", "f", "v"], ["HGETALL", "h"], ["HGETALL", "nokey"],
                          ["SADD", "s", "m"], ["SMEMBERS", "s"], ["SMEMBERS", "nokey"],
                          ["SPOP", "s", "2"], ["SPOP", "nokey", "2"], ["LPOP", "nokey", "2"],
                          ["LPOP", "nokey"], ["RPUSH", "l", "x"], ["LPOP", "l", "0"],
                          ["HMGET", "h", "f", "x"], ["LINDEX", "l", "5"]],
    "set_get": [["SET", "k", "v"], ["GET", "k"], ["GET", "missing"], ["SET", "k", ""],
                ["GET", "k"], ["STRLEN", "k"], ["STRLEN", "missing"]],
    "set_options": [["SET", "k", "v", "NX"], ["SET", "k", "w", "NX"], ["SET", "k", "w", "XX"],
                    ["SET", "n", "w", "XX"], ["GET", "k"], ["SET", "k", "x", "GET"],
                    ["SET", "new", "x", "GET"], ["SET", "k", "y", "NX", "GET"],
                    ["SET", "k", "z", "XX", "GET"], ["SET", "k", "v", "EX", "100"], ["TTL", "k"],
                    ["SET", "k", "v", "PX", "100000"], ["TTL", "k"],
                    ["SET", "k", "v2", "KEEPTTL"], ["TTL", "k"], ["SET", "k", "v3"], ["TTL", "k"],
                    ["SET", "k", "v", "EX", "10", "EX", "20"], ["TTL", "k"],
                    ["SET", "k", "v", "ex", "5", "nx"], ["set", "k2", "v", "Px", "5000", "get"]],
    "set_errors": [["SET", "k", "v", "NX", "XX"], ["SET", "k", "v", "EX"],
                   ["SET", "k", "v", "EX", "abc"], ["SET", "k", "v", "EX", "0"],
                   ["SET", "k", "v", "EX", "-1"], ["SET", "k", "v", "PX", "0"],
                   ["SET", "k", "v", "EX", "10", "PX", "10"],
                   ["SET", "k", "v", "KEEPTTL", "EX", "5"], ["SET", "k", "v", "EX", "5", "KEEPTTL"],
                   ["SET", "k", "v", "EX", "99999999999999999"], ["SET", "k", "v", "FOO"],
                   ["SET", "k", "v", "EXAT", "0"], ["SET", "k", "v", "PXAT", "-3"],
                   ["SET", "k", "v", "PERSIST"], ["SET", "k"], ["SET", "k", "v", "EX", "1.5"],
                   ["SET", "k", "v", "EX", " 5"], ["SET", "k", "v", "EX", "05"]],
    "set_exat_in_past_deletes": [["SET", "k", "v"], ["SET", "k", "v2", "EXAT", "1"],
                                 ["EXISTS", "k"], ["SET", "k", "v", "PXAT", "1000", "GET"],
                                 ["EXISTS", "k"]],
    "setnx_setex_getset": [["SETNX", "k", "1"], ["SETNX", "k", "2"], ["GET", "k"],
                           ["SETEX", "k", "100", "v"], ["TTL", "k"], ["PSETEX", "k", "100000", "v"],
                           ["TTL", "k"], ["SETEX", "k", "0", "v"], ["SETEX", "k", "-5", "v"],
                           ["SETEX", "k", "x", "v"], ["PSETEX", "k", "-1", "v"],
                           ["SETEX", "k", "9223372036854775807", "v"],
                           ["GETSET", "k", "new"], ["GETSET", "other", "x"], ["TTL", "k"]],
    "getdel_getex": [["SET", "k", "v"], ["GETDEL", "k"], ["GETDEL", "k"], ["SET", "k", "v"],
                     ["GETEX", "k"], ["GETEX", "k", "EX", "100"], ["TTL", "k"],
                     ["GETEX", "k", "PERSIST"], ["TTL", "k"], ["GETEX", "k", "PX", "0"],
                     ["GETEX", "k", "EX", "abc"], ["GETEX", "k", "PERSIST", "EX", "5"],
                     ["GETEX", "k", "NX"], ["GETEX", "missing", "EX", "5"],
                     ["GETEX", "k", "EXAT", "1"], ["EXISTS", "k"], ["GETEX", "k", "KEEPTTL"]],
    "mget_mset": [["MSET", "a", "1", "b", "2"], ["MGET", "a", "b", "c"], ["MSET", "a"],
                  ["MSET", "a", "1", "b"], ["MSETNX", "a", "9", "z", "9"], ["MGET", "a", "z"],
                  ["MSETNX", "y", "1", "z", "2"], ["MGET", "y", "z"], ["MSETNX", "q"],
                  ["MSET", "d", "1", "d", "2"], ["GET", "d"]],
    "append_strlen_ranges": [["APPEND", "k", "hello"], ["APPEND", "k", " world"], ["GET", "k"],
                             ["APPEND", "e", ""], ["EXISTS", "e"], ["STRLEN", "k"],
                             ["GETRANGE", "k", "0", "4"], ["GETRANGE", "k", "-5", "-1"],
                             ["GETRANGE", "k", "5", "3"], ["GETRANGE", "k", "-100", "100"],
                             ["GETRANGE", "k", "-1", "-5"], ["GETRANGE", "k", "100", "200"],
                             ["GETRANGE", "missing", "0", "-1"], ["GETRANGE", "k", "a", "1"],
                             ["SUBSTR", "k", "0", "2"], ["GETRANGE", "e", "0", "-1"]],
    "setrange": [["SETRANGE", "k", "5", "abc"], ["GET", "k"], ["SETRANGE", "k", "0", "XY"],
                 ["GET", "k"], ["SETRANGE", "k", "0", ""], ["SETRANGE", "missing", "3", ""],
                 ["EXISTS", "missing"], ["SETRANGE", "k", "-1", "x"],
                 ["SETRANGE", "k", "536870912", "x"], ["SETRANGE", "k", "x", "x"],
                 ["SETRANGE", "k", "10", "end"], ["GET", "k"]],
    "incr_family": [["INCR", "n"], ["INCRBY", "n", "10"], ["DECR", "n"], ["DECRBY", "n", "5"],
                    ["GET", "n"], ["INCRBY", "n", "abc"], ["INCRBY", "n", "1.5"],
                    ["SET", "n", "9223372036854775807"], ["INCR", "n"],
                    ["SET", "n", "-9223372036854775808"], ["DECR", "n"],
                    ["DECRBY", "n", "-9223372036854775808"], ["SET", "n", " 1"], ["INCR", "n"],
                    ["SET", "n", "01"], ["INCR", "n"], ["SET", "n", "1e3"], ["INCR", "n"],
                    ["SET", "n", "-0"], ["INCR", "n"], ["SET", "n", "5"],
                    ["EXPIRE", "n", "100"], ["INCR", "n"], ["TTL", "n"]],
    "incrbyfloat": [["INCRBYFLOAT", "f", "10.5"], ["INCRBYFLOAT", "f", "3.0e3"],
                    ["INCRBYFLOAT", "f", "-5000"], ["INCRBYFLOAT", "f", "0.1"],
                    ["INCRBYFLOAT", "g", "0.1"], ["INCRBYFLOAT", "g", "0.2"],
                    ["INCRBYFLOAT", "f", "abc"], ["INCRBYFLOAT", "f", " 1"],
                    ["INCRBYFLOAT", "f", "nan"], ["INCRBYFLOAT", "f", "inf"],
                    ["INCRBYFLOAT", "f", ""], ["SET", "s", "abc"], ["INCRBYFLOAT", "s", "1"],
                    ["SET", "s", "5"], ["INCRBYFLOAT", "s", "-5"], ["INCRBYFLOAT", "h", "1e-5"],
                    ["INCRBYFLOAT", "i", "1234567.125"], ["INCRBYFLOAT", "j", "-0.0"]],
    "keys_basic": [["SET", "a", "1"], ["DEL", "a", "a", "b"], ["SET", "a", "1"],
                   ["SET", "b", "1"], ["EXISTS", "a", "a", "b", "c"], ["UNLINK", "a", "b"],
                   ["TYPE", "a"], ["SET", "a", "1"], ["TYPE", "a"], ["RENAME", "a", "b"],
                   ["GET", "b"], ["RENAME", "nokey", "x"], ["RENAMENX", "b", "b"],
                   ["SET", "c", "1"], ["RENAMENX", "b", "c"], ["RENAMENX", "b", "d"],
                   ["RENAME", "d", "d"], ["DBSIZE"], ["FLUSHALL"],
                   ["RANDOMKEY"], ["SET", "only", "1"], ["RANDOMKEY"], ["DBSIZE"], ["FLUSHALL", "foo"], ["FLUSHDB", "ASYNC"],
                   ["FLUSHALL", "SYNC"], ["FLUSHALL", "a", "b"]],
    "keys_and_scan": [["MSET", "user:1", "a", "user:2", "b", "item:1", "c"],
                      ["KEYS", "nomatch*"], ["SCAN", "abc"], ["SCAN", "0", "COUNT", "0"],
                      ["SCAN", "0", "COUNT", "x"], ["SCAN", "0", "TYPE", "list"],
                      ["SCAN", "0", "MATCH"], ["SCAN", "0", "FOO", "bar"]],
    "expire_family": [["SET", "k", "v"], ["EXPIRE", "k", "100"], ["TTL", "k"], ["PTTL", "missing"],
                      ["TTL", "missing"], ["SET", "p", "v"], ["TTL", "p"], ["PERSIST", "p"],
                      ["PERSIST", "k"], ["PERSIST", "k"], ["EXPIRE", "k", "100", "NX"],
                      ["EXPIRE", "k", "100", "NX"], ["EXPIRE", "k", "50", "XX"],
                      ["EXPIRE", "k", "200", "GT"], ["EXPIRE", "k", "100", "GT"],
                      ["EXPIRE", "k", "10", "LT"], ["TTL", "k"], ["EXPIRE", "p", "10", "GT"],
                      ["EXPIRE", "p", "10", "LT"], ["TTL", "p"], ["EXPIRE", "k", "10", "NX", "XX"],
                      ["EXPIRE", "k", "10", "GT", "LT"], ["EXPIRE", "k", "10", "FOO"],
                      ["EXPIRE", "k", "abc"], ["EXPIRE", "k", "99999999999999999"],
                      ["PEXPIRE", "k", "9223372036854775807"], ["EXPIRE", "missing", "10"],
                      ["EXPIRE", "k", "-1"], ["EXISTS", "k"], ["SET", "k", "v"],
                      ["EXPIREAT", "k", "1"], ["EXISTS", "k"], ["SET", "k", "v"],
                      ["PEXPIREAT", "k", "0"], ["EXISTS", "k"], ["EXPIRETIME", "missing"],
                      ["SET", "k", "v"], ["EXPIRETIME", "k"], ["PEXPIRETIME", "k"],
                      ["EXPIREAT", "k", "4102444800"], ["EXPIRETIME", "k"], ["PEXPIRETIME", "k"],
                      ["PEXPIREAT", "k", "4102444800123"], ["EXPIRETIME", "k"],
                      ["PEXPIRETIME", "k"], ["EXPIRE", "k"]],
    "connection": [["PING"], ["PING", "hello"], ["PING", "a", "b"], ["ECHO", "x"], ["ECHO"],
                   ["SELECT", "0"], ["SELECT", "x"], ["SELECT", "16"], ["SELECT", "-1"],
                   ["AUTH", "x"], ["AUTH", "a", "b"], ["AUTH", "default", "anything"],
                   ["AUTH", "a", "b", "c"], ["HELLO", "4"], ["HELLO", "x"], ["HELLO", "1"],
                   ["HELLO", "3", "FOO"], ["HELLO", "3", "SETNAME", "bad name"],
                   ["HELLO", "2", "AUTH", "default"], ["CLIENT", "SETNAME", "a b"],
                   ["CLIENT", "GETNAME"], ["CLIENT", "SETNAME", "good"], ["CLIENT", "GETNAME"],
                   ["CLIENT", "SETNAME", ""], ["CLIENT", "GETNAME"], ["CLIENT", "foo"],
                   ["CLIENT", "KILL", "1.2.3.4:5"], ["CLIENT", "KILL", "ID", "999999"],
                   ["CLIENT", "KILL", "ID", "x"], ["CLIENT", "KILL", "TYPE", "foo"],
                   ["CLIENT", "KILL", "SKIPME", "maybe"], ["CLIENT", "KILL", "FOO", "bar"],
                   ["CLIENT"], ["RESET"], ["SHUTDOWN", "ABORT"], ["SHUTDOWN", "FOO"]],
    "unknown_and_arity": [["FOO"], ["FOO", "a", "b"], ["foo", "x" * 200],
                          ["FOO", "a" * 100, "b" * 100], ["GET"], ["GET", "a", "b"],
                          ["KEYS"], ["EXISTS"], ["DEL"], ["TTL"], ["EXPIRE", "k"],
                          ["CONFIG"], ["CONFIG", "GET"], ["CONFIG", "SET", "a"],
                          ["CONFIG", "SET", "maxmemory", "1", "timeout"], ["COMMAND", "FOO"],
                          ["CLIENT", "SETNAME"], ["PUBLISH", "a"], ["SUBSCRIBE"],
                          ["MULTI", "x"], ["INCRBYFLOAT", "a"], ["GETRANGE", "a", "1"]],
    "config": [["CONFIG", "GET", "maxmemory"], ["CONFIG", "GET", "maxmemory-policy"],
               ["CONFIG", "GET", "timeout"], ["CONFIG", "GET", "appendonly"],
               ["CONFIG", "GET", "nonexistent"], ["CONFIG", "SET", "maxmemory", "abc"],
               ["CONFIG", "SET", "foo", "1"], ["CONFIG", "SET", "appendonly", "maybe"],
               ["CONFIG", "SET", "timeout", "-1"], ["CONFIG", "SET", "save", "1 a"],
               ["CONFIG", "SET", "save", "1"], ["CONFIG", "SET", "maxmemory", "10mb"],
               ["CONFIG", "GET", "maxmemory"], ["CONFIG", "SET", "maxmemory", "1GB"],
               ["CONFIG", "GET", "maxmemory"], ["CONFIG", "SET", "maxmemory", "0"],
               ["CONFIG", "SET", "timeout", "0", "timeout", "1"],
               ["CONFIG", "SET", "timeout", "5"], ["CONFIG", "GET", "timeout"],
               ["CONFIG", "SET", "timeout", "0"], ["CONFIG", "REWRITE"],
               ["CONFIG", "SET", "requirepass", ""]],
    "multi_exec": [["MULTI"], ["SET", "a", "1"], ["INCR", "a"], ["GET", "a"], ["EXEC"],
                   ["EXEC"], ["DISCARD"], ["MULTI"], ["MULTI"], ["SET", "a", "2"], ["DISCARD"],
                   ["GET", "a"], ["MULTI"], ["FOO"], ["SET", "a", "3"], ["EXEC"], ["GET", "a"],
                   ["MULTI"], ["SET", "a"], ["EXEC"], ["MULTI"], ["SET", "w", "x"],
                   ["INCR", "w"], ["EXEC"], ["MULTI"], ["WATCH", "a"], ["EXEC"],
                   ["MULTI"], ["EXEC"], ["MULTI"], ["SAVE"], ["EXEC"]],
    "watch": [["SET", "a", "1"], ["WATCH", "a"], ["MULTI"], ["INCR", "a"], ["EXEC"],
              ["WATCH", "a"], ["SET", "a", "5"], ["MULTI"], ["INCR", "a"], ["EXEC"],
              ["GET", "a"], ["WATCH", "a", "b"], ["UNWATCH"], ["SET", "a", "1"], ["MULTI"],
              ["INCR", "a"], ["EXEC"], ["WATCH", "gone"], ["MULTI"], ["EXEC"],
              ["WATCH", "a"], ["FLUSHALL"], ["MULTI"], ["PING"], ["EXEC"]],
    "pubsub_context": [["SUBSCRIBE", "a", "b"], ["GET", "a"], ["PING"], ["PING", "x"],
                       ["PSUBSCRIBE", "p*"], ["PUNSUBSCRIBE"], ["UNSUBSCRIBE", "b"],
                       ["UNSUBSCRIBE"], ["UNSUBSCRIBE"], ["PUNSUBSCRIBE"], ["GET", "a"],
                       ["PUBLISH", "nobody", "x"], ["PUBSUB", "NUMSUB", "a"],
                       ["PUBSUB", "NUMPAT"], ["PUBSUB", "CHANNELS", "zz*"], ["PUBSUB", "FOO"]],
    "resp3": [["HELLO", "3", "SETNAME", "x"], ["GET", "missing"], ["SET", "a", "1"],
              ["MGET", "a", "b"], ["CONFIG", "GET", "timeout"], ["SUBSCRIBE", "c"],
              ["PING"], ["GET", "a"], ["UNSUBSCRIBE"], ["SET", "x", "y", "GET"],
              ["EXEC"], ["MULTI"], ["GET", "a"], ["EXEC"], ["WATCH", "a"], ["SET", "a", "2"],
              ["MULTI"], ["EXEC"], ["INCRBYFLOAT", "f", "1.5"], ["CLIENT", "GETNAME"],
              ["RESET"], ["GET", "missing"]],
    "inline": b"PING\r\nSET x 10\r\nINCRBY x 5\r\nGET x\r\nECHO \"a\\x41b\\n\"\r\n"
              b"ECHO 'single \\' quote'\r\nECHO \"\"\r\n \r\nMGET x  y\r\nSET a\"b\" c\r\n"
              b"GET a\"b\"\r\nSET \"a\"b c\r\n",
}


def _eval(script, *args):
    return ["EVAL", script] + list(args)


def _sha(script):
    return hashlib.sha1(script.encode()).hexdigest()


# Scripting: EVAL/EVALSHA/SCRIPT, Redis's conversions between Lua and RESP both ways, the
# error texts (with the script's sha and line), the sandbox and the bundled libraries.
CASES.update({
    "eval_lua_to_resp": [
        _eval("return 1", "0"), _eval("return 1.9", "0"), _eval("return -3.99", "0"),
        _eval("return 'a'", "0"), _eval("return {1,2,{3,'x'},false,true,nil,5}", "0"),
        _eval("return nil", "0"), _eval("return true", "0"), _eval("return false", "0"),
        _eval("return {}", "0"), _eval("return {ok='fine'}", "0"),
        _eval("return {err='boom'}", "0"), _eval("return {err=3}", "0"),
        _eval("return {err='-X y'}", "0"), _eval("return redis.error_reply('My err')", "0"),
        _eval("return redis.error_reply('-X y')", "0"),
        _eval("return redis.status_reply('X')", "0"),
        _eval("return {ok='a\\r\\nb'}", "0"), _eval("return redis.status_reply()", "0"),
        _eval("return redis.error_reply()", "0"), _eval("return redis.error_reply(5)", "0"),
        _eval("return {1,2,3,nil,5}", "0"), _eval("return 0/0", "0"),
        _eval("return 1/0", "0"), _eval("return 2^53", "0"), _eval("return -0.5", "0"),
        _eval("return 9007199254740993", "0"), _eval("return {double=3.5}", "0"),
        _eval("return {map={a=1}}", "0"), _eval("return {set={a=true}}", "0"),
        _eval("return {big_number='123'}", "0"),
        _eval("return {verbatim_string={format='txt', string='hi'}}", "0"),
        _eval("return {1, {ok='x'}, {err='ERR inner'}}", "0"),
        _eval("return function() end", "0"), _eval("return {a=1, 2}", "0")],
    "eval_keys_argv": [
        _eval("return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}", "2", "a", "b", "c", "d"),
        _eval("return {#KEYS, #ARGV}", "1", "k", "x", "y"), _eval("return KEYS[1]", "0"),
        _eval("return 1", "-1"), _eval("return 1", "2", "a"), _eval("return 1", "x"),
        _eval("return 1", "1.5"), _eval("return 1", " 1", "a"), ["EVAL", "return 1"],
        ["EVAL"], _eval("return ARGV[1]", "0", "\x00bin"),
        _eval("return tonumber(ARGV[1]) + 1", "0", "41")],
    "eval_redis_to_lua": [
        ["SET", "s", "a"], _eval("return redis.call('set', KEYS[1], ARGV[1])", "1", "k", "v"),
        _eval("return redis.call('get', 'k')", "0"), _eval("return redis.call('get', 'nokey')", "0"),
        _eval("return type(redis.call('get', 'nokey'))", "0"),
        _eval("return redis.call('incr', 's')", "0"), _eval("return redis.pcall('incr', 's')", "0"),
        _eval("return redis.pcall('incr', 's')['err']", "0"),
        _eval("local ok, e = pcall(redis.call, 'incr', 's') return {tostring(ok), e}", "0"),
        _eval("return redis.call('nosuch')", "0"), _eval("return redis.call()", "0"),
        _eval("return redis.pcall()", "0"), _eval("return redis.call('get')", "0"),
        _eval("return redis.call('set', 'k', {})", "0"),
        _eval("return redis.call('set', 'k', nil)", "0"),
        _eval("return redis.call('set', 'f', 1.5)", "0"), ["GET", "f"],
        _eval("return redis.call('set', 'f', 10)", "0"), ["GET", "f"],
        _eval("return redis.call('set', 'f', 0.1)", "0"), ["GET", "f"],
        _eval("return redis.call('subscribe', 'x')", "0"),
        _eval("return redis.call('multi')", "0"), _eval("return redis.call('eval', 'return 1', 0)", "0"),
        _eval("return redis.call('config', 'nosuch')", "0"),
        _eval("return redis.call('ping')", "0"), _eval("return redis.call('ping')['ok']", "0"),
        _eval("return redis.call('mget', 'k', 'nokey', 'f')", "0"),
        _eval("local t = redis.call('mget', 'k', 'nokey') return {type(t[1]), type(t[2])}", "0"),
        _eval("return redis.call('exists', 'k', 'f', 'zz')", "0"),
        _eval("return redis.call('incrbyfloat', 'g', '1.5')", "0"),
        _eval("return redis.call('SET', 'k', 'v2', 'GET')", "0"),
        _eval("return redis.call('ttl', 'k')", "0"), _eval("return redis.call('del', 'k', 'f')", "0"),
        _eval("return redis.call('set', 'k', 'v', 'EX', 'x')", "0"),
        _eval("redis.call('set', 'a', '1') redis.call('incr', 'a') return redis.call('get', 'a')", "0")],
    "eval_errors": [
        _eval("syntax error here", "0"), _eval("return 1 +", "0"), _eval("error('x')", "0"),
        _eval("error({err='tbl'})", "0"), _eval("error({err='MYCODE tbl'})", "0"),
        _eval("error()", "0"), _eval("error(42)", "0"),
        _eval("local x = nil; return x.y", "0"), _eval("return 1 + {}", "0"),
        _eval("\nlocal a = 1\nerror('third line')", "0"),
        _eval("return redis.error_reply('ERR custom') ", "0"),
        _eval("return pcall(error, 'caught')", "0"),
        _eval("local ok, e = pcall(function() error({err='ERR t'}) end) return e", "0"),
        _eval("return redis.sha1hex()", "0"), _eval("return redis.log()", "0"),
        _eval("return redis.log('x', 'y')", "0"), _eval("return redis.log(99, 'hi')", "0"),
        _eval("return redis.log(redis.LOG_DEBUG, 'hi')", "0"),
        _eval("return redis.setresp(4)", "0"), _eval("return redis.setresp()", "0"),
        _eval("return redis.set_repl(redis.REPL_ALL)", "0"),
        _eval("return redis.set_repl(99)", "0"), _eval("return redis.replicate_commands()", "0")],
    "eval_sandbox": [
        _eval("return os.execute('ls')", "0"), _eval("return io.open('/etc/passwd')", "0"),
        _eval("return require('x')", "0"), _eval("return loadfile('/x')", "0"),
        _eval("return dofile('/x')", "0"), _eval("print('x')", "0"),
        _eval("return setfenv", "0"), _eval("return getfenv", "0"), _eval("return debug", "0"),
        _eval("return newproxy", "0"), _eval("return module", "0"), _eval("return package", "0"),
        _eval("x = 1", "0"), _eval("redis.call = nil", "0"), _eval("string.rep = nil", "0"),
        _eval("KEYS = 1", "0"), _eval("_G.y = 1", "0"),
        _eval("return {type(load), type(loadstring), type(pcall), type(unpack), type(_G)}", "0"),
        _eval("return tostring(loadstring(string.dump(function() return 1 end)))", "0"),
        _eval("local f, e = loadstring(string.dump(function() return 1 end)) return e", "0"),
        _eval("return loadstring('return 1 + 1')()", "0"),
        _eval("return type(getmetatable(''))", "0"),
        _eval("return setmetatable(_G, {})", "0")],
    "eval_libraries": [
        _eval("return cjson.encode({a=1,b={1,2}})", "0"),
        _eval("return cjson.encode({1, 'x', true, cjson.null})", "0"),
        _eval("return cjson.decode('[1,2,null]')[3] == cjson.null", "0"),
        _eval("return cjson.decode('{\"k\":[1,\"v\",{\"n\":2.5}]}')['k'][3]['n'] * 2", "0"),
        _eval("return cjson.decode('[1,')", "0"), _eval("return cjson.encode(function() end)", "0"),
        _eval("return {bit.band(7,3), bit.bor(4,1), bit.bxor(6,3), bit.lshift(1,10), "
              "bit.rshift(-1,28), bit.arshift(-256,4), bit.bnot(0), bit.tobit(2^32+5)}", "0"),
        _eval("return {bit.tohex(65535), bit.tohex(255, 4), bit.tohex(255, -2), "
              "bit.tohex(-1, -2147483648)}", "0"),
        _eval("return struct.pack('>I2', 258)", "0"),
        _eval("return {struct.unpack('>I2', 'ab')}", "0"),
        _eval("return {struct.unpack('<i4', struct.pack('<i4', -5))}", "0"),
        _eval("return {struct.unpack('BHbs', struct.pack('BHbs', 200, 65000, -3, 'str'))}", "0"),
        _eval("return {struct.size('>iIhd'), struct.size('!4 bi'), struct.size('c5')}", "0"),
        _eval("return struct.pack('>d', 1.5)", "0"), _eval("return struct.pack('c3', 'abcdef')", "0"),
        _eval("return {struct.unpack('>I4c0', struct.pack('>I4', 2) .. 'xyz')}", "0"),
        _eval("return struct.pack('q', 1)", "0"), _eval("return struct.unpack('>I4', 'ab')", "0"),
        _eval("return struct.size('s')", "0"), _eval("return struct.pack('i33', 1)", "0"),
        _eval("return redis.sha1hex('')", "0"), _eval("return redis.sha1hex('abc')", "0"),
        _eval("return redis.sha1hex(string.rep('a', 1000))", "0"),
        _eval("return {math.random(1000000), math.random(10), math.random(5, 8)}", "0"),
        _eval("math.randomseed(42) return math.random(1000000)", "0"),
        _eval("return string.format('%d-%s-%5.2f', 7, 'x', 3.14159)", "0"),
        _eval("return {string.byte('A'), string.upper('ab'), ('x'):rep(3), #'abc'}", "0"),
        _eval("return table.concat({1,2,3}, ',')", "0"),
        _eval("return math.floor(7.9) + math.max(1, 5)", "0"),
        _eval("return coroutine.wrap(function() coroutine.yield(5) end)()", "0")],
    "evalsha_and_script": [
        ["SCRIPT", "LOAD", "return 'loaded'"],
        ["EVALSHA", _sha("return 'loaded'"), "0"],
        ["SCRIPT", "LOAD", "return {KEYS[1], ARGV[1]}"],
        ["EVALSHA", _sha("return {KEYS[1], ARGV[1]}"), "1", "key", "arg"],
        ["SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "ffff"],
        _eval("return 1", "0"),
        ["SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
         "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB"],
        ["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
        ["EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"],
        ["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "-1"],
        ["EVALSHA", "0000000000000000000000000000000000000000", "0"],
        ["EVALSHA", "abc", "0"], ["EVALSHA_RO", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
        ["SCRIPT", "LOAD", "syntax error"], ["SCRIPT", "LOAD"], ["SCRIPT", "FLUSH", "bad"],
        ["SCRIPT", "FLUSH", "sync", "x"], ["SCRIPT", "FLUSH"],
        ["SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"],
        ["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"], ["SCRIPT", "FLUSH", "ASYNC"],
        ["SCRIPT", "KILL"], ["SCRIPT", "KILL", "x"], ["SCRIPT"], ["SCRIPT", "FOO"],
        ["SCRIPT", "HELP"], ["SCRIPT", "EXISTS"]],
    "eval_ro": [
        ["SET", "k", "v"], ["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"],
        ["EVAL_RO", "return redis.call('set', 'k', 'x')", "0"],
        ["EVAL_RO", "return redis.pcall('del', 'k')", "0"],
        ["EVAL_RO", "return redis.call('incr', 'n')", "0"], ["GET", "k"],
        ["SCRIPT", "LOAD", "return redis.call('set', 'k', 'y')"],
        ["EVALSHA_RO", _sha("return redis.call('set', 'k', 'y')"), "0"]],
    "eval_resp3_conversions": [
        _eval("redis.setresp(3) return redis.call('ping')", "0"),
        _eval("redis.setresp(3) return type(redis.call('get', 'nokey'))", "0"),
        _eval("redis.setresp(3) return true", "0"), _eval("redis.setresp(3) return false", "0"),
        _eval("redis.setresp(3) return redis.call('incrbyfloat', 'x', '1.5')", "0"),
        _eval("redis.setresp(3) local r = redis.call('config', 'get', 'maxmemory') "
              "return r['map']['maxmemory']", "0")],
    "eval_in_multi": [
        ["MULTI"], _eval("return redis.call('incr', 'c')", "0"),
        _eval("return redis.call('incr', 'c')", "0"), ["EVAL", "return 1"], ["EXEC"],
        ["MULTI"], _eval("return redis.call('incr', 'c')", "0"), ["EXEC"], ["GET", "c"]],
    # Deadlines past the engine's (some 2.28 million years) are accepted as Redis accepts
    # them; TTL would then show the engine's bound, so only existence is compared.
    "pexpireat_big": [
        ["SET", "k", "v"], ["PEXPIREAT", "k", "9223372036854775807"], ["EXISTS", "k"],
        ["PEXPIREAT", "k", "99999999999999999"], ["EXISTS", "k"],
        ["EXPIREAT", "k", "9223372036854775807"], ["EXPIREAT", "k", "99999999999999999"],
        ["PEXPIREAT", "k", "9223372036854775808"], ["EXPIREAT", "k", "9223372036854775"],
        ["EXISTS", "k"], ["SET", "k", "v", "PXAT", "9223372036854775807"], ["EXISTS", "k"],
        ["GETEX", "k", "PXAT", "9223372036854775807"], ["EXISTS", "k"]],
})

# Bitmaps on strings.
CASES.update({
    "setbit_getbit": [
        ["SETBIT", "b", "7", "1"], ["GET", "b"], ["SETBIT", "b", "7", "1"], ["SETBIT", "b", "7", "0"],
        ["GET", "b"], ["SETBIT", "z", "100", "0"], ["GET", "z"], ["STRLEN", "z"],
        ["SETBIT", "b", "0", "1"], ["GETBIT", "b", "0"], ["GETBIT", "b", "1"],
        ["GETBIT", "b", "1000"], ["GETBIT", "missing", "3"], ["SETBIT", "b", "-1", "1"],
        ["SETBIT", "b", "x", "1"], ["SETBIT", "b", "1", "2"], ["SETBIT", "b", "1", "-1"],
        ["SETBIT", "b", "1", "x"], ["SETBIT", "b", "4294967296", "1"],
        ["SETBIT", "b", "100000", "0"], ["GETBIT", "b", "4294967295"], ["GETBIT", "b", "-1"], ["GETBIT", "b", "1.5"],
        ["SET", "s", "a"], ["SETBIT", "s", "6", "1"], ["GET", "s"], ["SETBIT", "b"],
        ["SET", "t", "x"], ["EXPIRE", "t", "100"], ["SETBIT", "t", "1", "1"], ["TTL", "t"]],
    "bitcount": [
        ["SET", "k", "foobar"], ["BITCOUNT", "k"], ["BITCOUNT", "k", "0", "0"],
        ["BITCOUNT", "k", "1", "1"], ["BITCOUNT", "k", "-2", "-1"], ["BITCOUNT", "k", "-1", "-2"],
        ["BITCOUNT", "k", "0", "-1", "BYTE"], ["BITCOUNT", "k", "5", "30", "BIT"],
        ["BITCOUNT", "k", "1", "1", "bit"], ["BITCOUNT", "k", "-3", "-1", "BIT"],
        ["BITCOUNT", "k", "0", "100"], ["BITCOUNT", "k", "100", "200"],
        ["BITCOUNT", "k", "0", "1", "FOO"], ["BITCOUNT", "k", "0"], ["BITCOUNT", "k", "a", "1"],
        ["BITCOUNT", "missing"], ["BITCOUNT", "missing", "x"], ["BITCOUNT", "k", "0", "1", "2", "3"],
        ["SET", "e", ""], ["BITCOUNT", "e"], ["BITCOUNT", "e", "0", "-1", "BIT"]],
    "bitpos": [
        ["SET", "k", b"\xff\xf0\x00"], ["BITPOS", "k", "0"], ["BITPOS", "k", "1"],
        ["BITPOS", "k", "0", "2"], ["BITPOS", "k", "1", "2"], ["BITPOS", "k", "1", "2", "-1"],
        ["BITPOS", "k", "0", "0", "0"], ["BITPOS", "k", "0", "0", "-1"],
        ["BITPOS", "k", "1", "7", "15", "BIT"], ["BITPOS", "k", "0", "7", "15", "BIT"],
        ["BITPOS", "k", "0", "3", "BIT"], ["BITPOS", "k", "1", "12", "BIT"],
        ["BITPOS", "k", "0", "0", "3", "BIT"], ["BITPOS", "k", "1", "-5", "-1", "BIT"],
        ["BITPOS", "k", "1", "5", "2"], ["BITPOS", "k", "2"], ["BITPOS", "k", "x"],
        ["BITPOS", "k", "1", "a"], ["BITPOS", "k", "1", "0", "1", "FOO"],
        ["BITPOS", "k", "1", "0", "1", "BIT", "x"], ["BITPOS", "missing", "0"],
        ["BITPOS", "missing", "1"], ["SET", "ones", b"\xff\xff"], ["BITPOS", "ones", "0"],
        ["BITPOS", "ones", "0", "0", "-1"], ["BITPOS", "ones", "0", "1"],
        ["SET", "zeros", b"\x00\x00"], ["BITPOS", "zeros", "1"], ["BITPOS", "zeros", "0", "1"]],
})

# The ZRANGE family: score bounds ("(1", -inf/+inf, strtod's syntax), lex bounds
# ("[a" "(a" "-" "+"), LIMIT (negative offset and count), REV, empty and inverted ranges,
# the option errors in Redis's order, wrong types and a missing key.
ZSET_SETUP = [["ZADD", "z", "1", "a", "2", "b", "2", "c", "3", "d", "-inf", "lo", "+inf", "hi"],
              ["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", ""],
              ["SET", "str", "v"]]
CASES["zset_ranges"] = ZSET_SETUP + [
    ["ZRANGE", "z", "1", "2", "BYSCORE"], ["ZRANGE", "z", "(1", "2", "BYSCORE", "WITHSCORES"],
    ["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "WITHSCORES"], ["ZRANGE", "z", "(2", "(3", "BYSCORE"],
    ["ZRANGE", "z", "3", "1", "BYSCORE"], ["ZRANGE", "z", "3", "1", "BYSCORE", "REV"],
    ["ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "WITHSCORES"],
    ["ZRANGE", "z", "(3", "(1", "BYSCORE", "REV"], ["ZRANGE", "z", "2", "(2", "BYSCORE"],
    ["ZRANGE", "z", "(2", "2", "BYSCORE"], ["ZRANGE", "z", "inf", "inf", "BYSCORE"],
    ["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"],
    ["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1"],
    ["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2"],
    ["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "0", "0"],
    ["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "10", "5"],
    ["ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "3", "WITHSCORES"],
    ["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1"], ["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"],
    ["ZRANGE", "z", "0", "1", "BYSCORE", "LIMIT", "x", "1"],
    ["ZRANGE", "z", "0", "1", "BYSCORE", "LIMIT", "0", "1.5"],
    ["ZRANGE", "z", "x", "1", "BYSCORE"], ["ZRANGE", "z", "1", "nan", "BYSCORE"],
    ["ZRANGE", "z", "(", "1", "BYSCORE"], ["ZRANGE", "z", "", "1", "BYSCORE"],
    ["ZRANGE", "z", "1e0", "0x2", "BYSCORE"], ["ZRANGE", "z", " 1", "2", "BYSCORE"],
    ["ZRANGE", "z", "x", "1"], ["ZRANGE", "z", "0", "-1", "FOO"], ["ZRANGE", "z", "0", "-1", "REV", "REV"],
    ["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"], ["ZRANGE", "z", "0", "1", "BYSCORE", "BYSCORE"],
    ["ZRANGE", "z", "0", "-1", "REV"], ["ZRANGE", "z", "-3", "-2", "REV", "WITHSCORES"],
    ["ZRANGE", "lex", "-", "+", "BYLEX"], ["ZRANGE", "lex", "[b", "(d", "BYLEX"],
    ["ZRANGE", "lex", "(b", "[d", "BYLEX"], ["ZRANGE", "lex", "[d", "[b", "BYLEX"],
    ["ZRANGE", "lex", "[d", "[b", "BYLEX", "REV"], ["ZRANGE", "lex", "+", "-", "BYLEX", "REV"],
    ["ZRANGE", "lex", "-", "+", "BYLEX", "LIMIT", "2", "2"],
    ["ZRANGE", "lex", "+", "-", "BYLEX", "REV", "LIMIT", "1", "-1"],
    ["ZRANGE", "lex", "[", "[a", "BYLEX"], ["ZRANGE", "lex", "(", "+", "BYLEX"],
    ["ZRANGE", "lex", "[b", "[b", "BYLEX"], ["ZRANGE", "lex", "(b", "[b", "BYLEX"],
    ["ZRANGE", "lex", "-", "-", "BYLEX"], ["ZRANGE", "lex", "+", "+", "BYLEX"],
    ["ZRANGE", "lex", "+", "[a", "BYLEX"], ["ZRANGE", "lex", "[zz", "+", "BYLEX"],
    ["ZRANGE", "lex", "a", "+", "BYLEX"], ["ZRANGE", "lex", "-x", "+", "BYLEX"],
    ["ZRANGE", "lex", "1", "+", "BYLEX"], ["ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES"],
    ["ZRANGE", "nokey", "0", "-1"], ["ZRANGE", "nokey", "-inf", "+inf", "BYSCORE"],
    ["ZRANGE", "str", "0", "-1"], ["ZRANGE", "str", "x", "1", "BYSCORE"],
    ["ZRANGE", "str", "-", "+", "BYLEX"], ["ZRANGE", "z", "0"],
    ["ZRANGEBYSCORE", "z", "1", "3", "WITHSCORES"], ["ZRANGEBYSCORE", "z", "(1", "+inf", "LIMIT", "0", "2"],
    ["ZRANGEBYSCORE", "z", "1", "3", "REV"], ["ZRANGEBYSCORE", "z", "1", "3", "BYSCORE"],
    ["ZRANGEBYSCORE", "z", "1", "3", "LIMIT", "0"], ["ZRANGEBYSCORE", "z", "a", "3"],
    ["ZRANGEBYSCORE", "nokey", "1", "3"], ["ZRANGEBYSCORE", "str", "1", "3"],
    ["ZRANGEBYSCORE", "z", "1"],
    ["ZREVRANGEBYSCORE", "z", "3", "1", "WITHSCORES"], ["ZREVRANGEBYSCORE", "z", "1", "3"],
    ["ZREVRANGEBYSCORE", "z", "+inf", "(1", "LIMIT", "1", "10"],
    ["ZRANGEBYLEX", "lex", "-", "[c"], ["ZRANGEBYLEX", "lex", "[a", "(c", "LIMIT", "1", "1"],
    ["ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES"], ["ZRANGEBYLEX", "lex", "a", "b"],
    ["ZRANGEBYLEX", "str", "-", "+"], ["ZREVRANGEBYLEX", "lex", "+", "-"],
    ["ZREVRANGEBYLEX", "lex", "[c", "-", "LIMIT", "0", "2"], ["ZREVRANGEBYLEX", "lex", "-", "+"],
    ["ZREVRANGE", "z", "0", "-1"], ["ZREVRANGE", "z", "0", "1", "WITHSCORES"],
    ["ZREVRANGE", "z", "0", "1", "REV"], ["ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1"],
    ["ZREVRANGE", "z", "0", "1", "BYSCORE"], ["ZREVRANGE", "nokey", "0", "1"],
    ["ZREVRANGE", "str", "0", "1"], ["ZREVRANGE", "z", "a", "1"],
    ["ZCOUNT", "z", "-inf", "+inf"], ["ZCOUNT", "z", "(1", "3"], ["ZCOUNT", "z", "2", "2"],
    ["ZCOUNT", "z", "3", "1"], ["ZCOUNT", "z", "(2", "2"], ["ZCOUNT", "z", "x", "1"],
    ["ZCOUNT", "nokey", "0", "1"], ["ZCOUNT", "str", "0", "1"], ["ZCOUNT", "z", "0"],
    ["ZLEXCOUNT", "lex", "-", "+"], ["ZLEXCOUNT", "lex", "[b", "(d"], ["ZLEXCOUNT", "lex", "(d", "[b"],
    ["ZLEXCOUNT", "lex", "b", "+"], ["ZLEXCOUNT", "nokey", "-", "+"], ["ZLEXCOUNT", "str", "-", "+"],
    ["ZLEXCOUNT", "lex", "-"]]
CASES["zset_ranges_resp3"] = [["HELLO", "3"]] + ZSET_SETUP + [
    ["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "WITHSCORES"], ["ZRANGE", "z", "1", "2", "BYSCORE"],
    ["ZRANGEBYSCORE", "z", "1", "3", "WITHSCORES"], ["ZREVRANGE", "z", "0", "1", "WITHSCORES"],
    ["ZRANGE", "lex", "-", "+", "BYLEX"], ["ZRANGE", "nokey", "0", "1", "WITHSCORES"]]
CASES["zset_range_removals"] = ZSET_SETUP + [
    ["ZREMRANGEBYSCORE", "z", "(1", "2"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    ["ZREMRANGEBYSCORE", "z", "5", "4"], ["ZREMRANGEBYSCORE", "z", "x", "4"],
    ["ZREMRANGEBYSCORE", "nokey", "0", "1"], ["ZREMRANGEBYSCORE", "str", "0", "1"],
    ["ZREMRANGEBYSCORE", "str", "x", "1"], ["ZREMRANGEBYSCORE", "z", "0"],
    ["ZREMRANGEBYRANK", "z", "-1", "-1"], ["ZRANGE", "z", "0", "-1"],
    ["ZREMRANGEBYRANK", "z", "5", "10"], ["ZREMRANGEBYRANK", "z", "2", "1"],
    ["ZREMRANGEBYRANK", "z", "x", "1"], ["ZREMRANGEBYRANK", "z", "1", "1.0"],
    ["ZREMRANGEBYRANK", "nokey", "0", "1"], ["ZREMRANGEBYRANK", "str", "0", "1"],
    ["ZREMRANGEBYRANK", "z", "-100", "100"], ["EXISTS", "z"],
    ["ZREMRANGEBYLEX", "lex", "(a", "[c"], ["ZRANGE", "lex", "0", "-1"],
    ["ZREMRANGEBYLEX", "lex", "[z", "-"], ["ZREMRANGEBYLEX", "lex", "a", "+"],
    ["ZREMRANGEBYLEX", "nokey", "-", "+"], ["ZREMRANGEBYLEX", "str", "-", "+"],
    ["ZREMRANGEBYLEX", "lex", "-", "+"], ["EXISTS", "lex"]]
CASES["zrangestore"] = ZSET_SETUP + [
    ["ZRANGESTORE", "d", "z", "0", "2"], ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
    ["ZRANGESTORE", "d", "z", "(1", "+inf", "BYSCORE", "LIMIT", "1", "2"],
    ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
    ["ZRANGESTORE", "d", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "2"],
    ["ZRANGE", "d", "0", "-1", "WITHSCORES"], ["ZRANGESTORE", "d", "lex", "[b", "+", "BYLEX"],
    ["ZRANGE", "d", "0", "-1"], ["ZRANGESTORE", "d", "z", "5", "4", "BYSCORE"], ["EXISTS", "d"],
    ["ZRANGESTORE", "str", "z", "0", "0"], ["TYPE", "str"], ["ZRANGE", "str", "0", "-1"],
    ["ZRANGESTORE", "d", "nokey", "0", "-1"], ["SET", "s2", "v"],
    ["ZRANGESTORE", "d", "s2", "0", "-1"], ["ZRANGESTORE", "d", "z", "0", "-1", "WITHSCORES"],
    ["ZRANGESTORE", "d", "z", "0", "-1", "LIMIT", "0", "1"], ["ZRANGESTORE", "d", "z", "0"],
    ["ZRANGESTORE", "z", "z", "0", "1"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    ["MULTI"], ["ZRANGESTORE", "m", "z", "0", "-1"], ["EXEC"], ["ZRANGE", "m", "0", "-1"]]

# ZUNION ZINTER ZDIFF and their STORE forms: WEIGHTS (a zero weight times an infinity is
# 0), AGGREGATE, sets as score-1 inputs, ties ordered by member, the checks in Redis's order
# (numkeys, every key's type, then the options), a missing input, an empty result deleting
# the destination, and a destination that is also an input.
ZCOMBINE_SETUP = [["ZADD", "z1", "1", "a", "2", "b", "3", "c"],
                  ["ZADD", "z2", "4", "b", "5", "c", "6", "d", "+inf", "e"],
                  ["ZADD", "z3", "-inf", "e", "0.5", "c"], ["SADD", "s", "a", "c", "x"],
                  ["SET", "str", "v"]]
CASES["zset_combine"] = ZCOMBINE_SETUP + [
    ["ZUNION", "2", "z1", "z2"], ["ZUNION", "2", "z1", "z2", "WITHSCORES"],
    ["ZUNION", "3", "z1", "z2", "z3", "WITHSCORES"], ["ZUNION", "2", "z2", "z3", "withscores"],
    ["ZUNION", "2", "z1", "s", "WITHSCORES"],
    ["ZUNION", "2", "z1", "z2", "WEIGHTS", "2", "0.5", "WITHSCORES"],
    ["ZUNION", "2", "z2", "z3", "WEIGHTS", "0", "1", "WITHSCORES"],
    ["ZUNION", "2", "z1", "z2", "AGGREGATE", "MIN", "WITHSCORES"],
    ["ZUNION", "2", "z1", "z2", "aggregate", "max", "WITHSCORES", "WEIGHTS", "1", "-1"],
    ["ZUNION", "2", "z1", "nokey", "WITHSCORES"], ["ZUNION", "1", "nokey"],
    ["ZINTER", "2", "z1", "z2", "WITHSCORES"], ["ZINTER", "3", "z1", "z2", "z3", "WITHSCORES"],
    ["ZINTER", "2", "z1", "s", "WITHSCORES"], ["ZINTER", "2", "z2", "z3", "WITHSCORES"],
    ["ZINTER", "2", "z1", "z2", "AGGREGATE", "MAX", "WEIGHTS", "10", "1", "WITHSCORES"],
    ["ZINTER", "2", "z1", "nokey"], ["ZINTER", "1", "s", "WITHSCORES"],
    ["ZDIFF", "2", "z2", "z1", "WITHSCORES"], ["ZDIFF", "3", "z2", "z1", "z3"],
    ["ZDIFF", "2", "s", "z1", "WITHSCORES"], ["ZDIFF", "1", "nokey"], ["ZDIFF", "2", "z1", "nokey"],
    ["ZDIFF", "2", "z1", "z2", "WEIGHTS", "1", "1"], ["ZDIFF", "2", "z1", "z2", "AGGREGATE", "SUM"],
    ["ZUNION", "0", "z1"], ["ZUNION", "-1", "z1"], ["ZUNION", "x", "z1"], ["ZUNION", "3", "z1"],
    ["ZUNION", "2", "z1", "str"], ["ZUNION", "2", "str", "z1", "WEIGHTS", "x"],
    ["ZINTER", "2", "nokey", "str"], ["ZDIFF", "2", "nokey", "str"],
    ["ZUNION", "1", "z1", "WEIGHTS", "x"], ["ZUNION", "1", "z1", "WEIGHTS", "nan"],
    ["ZUNION", "1", "z1", "WEIGHTS", "inf", "WITHSCORES"],
    ["ZUNION", "2", "z1", "z2", "WEIGHTS", "1"],
    ["ZUNION", "1", "z1", "AGGREGATE"], ["ZUNION", "1", "z1", "AGGREGATE", "AVG"],
    ["ZUNION", "1", "z1", "FOO"], ["ZUNION", "1"], ["ZDIFF", "0", "z1"], ["ZINTER", "0", "z1"],
    ["ZUNIONSTORE", "d", "2", "z1", "z2"], ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
    ["ZUNIONSTORE", "d", "2", "z1", "s", "WEIGHTS", "1", "3", "AGGREGATE", "MAX"],
    ["ZRANGE", "d", "0", "-1", "WITHSCORES"], ["ZINTERSTORE", "d", "2", "z1", "z2"],
    ["ZRANGE", "d", "0", "-1", "WITHSCORES"], ["ZINTERSTORE", "d", "2", "z1", "nokey"],
    ["EXISTS", "d"], ["ZDIFFSTORE", "d", "2", "z2", "z1"], ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
    ["ZDIFFSTORE", "d", "2", "z1", "z1"], ["EXISTS", "d"], ["ZUNIONSTORE", "str", "1", "z3"],
    ["TYPE", "str"], ["ZRANGE", "str", "0", "-1", "WITHSCORES"], ["SET", "str", "v"],
    ["ZUNIONSTORE", "d", "1", "z1", "WITHSCORES"], ["ZUNIONSTORE", "d", "0", "z1"],
    ["ZINTERSTORE", "d", "0", "z1"], ["ZDIFFSTORE", "d", "0", "z1"],
    ["ZDIFFSTORE", "d", "1", "z1", "WEIGHTS", "2"], ["ZUNIONSTORE", "d", "2", "z1", "str"],
    ["ZUNIONSTORE", "d", "1", "z1", "WEIGHTS", "x"], ["ZUNIONSTORE", "d", "1"],
    ["ZUNIONSTORE", "z1", "2", "z1", "s"], ["ZRANGE", "z1", "0", "-1", "WITHSCORES"],
    ["ZINTERSTORE", "s", "2", "s", "z2"], ["TYPE", "s"], ["ZRANGE", "s", "0", "-1", "WITHSCORES"],
    ["MULTI"], ["ZUNIONSTORE", "m", "2", "z1", "z2"], ["EXEC"], ["ZRANGE", "m", "0", "-1"],
    _eval("return redis.call('zinterstore', KEYS[1], 2, KEYS[2], KEYS[3])", "3", "e", "z1",
          "z2"), ["ZRANGE", "e", "0", "-1", "WITHSCORES"]]
CASES["zset_combine_resp3"] = [["HELLO", "3"]] + ZCOMBINE_SETUP + [
    ["ZUNION", "2", "z1", "z2", "WITHSCORES"], ["ZINTER", "2", "z1", "s"],
    ["ZDIFF", "2", "z1", "nokey", "WITHSCORES"], ["ZINTER", "2", "z1", "nokey", "WITHSCORES"]]

# ZMPOP: the first non-empty key, MIN and MAX, COUNT past the size emptying (and deleting)
# the key, the option errors in Redis's order, wrong types, and nothing to pop.
CASES["zmpop"] = [
    ["ZADD", "z", "1", "a", "2", "b", "3", "c", "inf", "d"], ["ZADD", "y", "5", "e"],
    ["SET", "str", "v"], ["ZMPOP", "1", "z", "MIN"], ["ZMPOP", "2", "nokey", "z", "max"],
    ["ZMPOP", "1", "z", "MIN", "COUNT", "1"], ["ZMPOP", "2", "z", "y", "MAX", "COUNT", "10"],
    ["EXISTS", "z"], ["ZMPOP", "2", "z", "y", "MIN"], ["ZMPOP", "2", "z", "y", "MIN"],
    ["ZADD", "z", "1", "a"], ["ZMPOP", "2", "str", "z", "MIN"],
    ["ZMPOP", "2", "nokey", "str", "MIN"],
    ["ZMPOP", "1", "z", "FOO"], ["ZMPOP", "1", "z", "MIN", "COUNT", "0"],
    ["ZMPOP", "1", "z", "MIN", "COUNT", "-1"], ["ZMPOP", "1", "z", "MIN", "COUNT", "x"],
    ["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "2"], ["ZMPOP", "1", "z", "MIN", "COUNT"],
    ["ZMPOP", "0", "z", "MIN"], ["ZMPOP", "-1", "z", "MIN"], ["ZMPOP", "x", "z", "MIN"],
    ["ZMPOP", "5", "z", "MIN"], ["ZMPOP", "1", "z"], ["ZMPOP", "1", "z", "MIN", "FOO"],
    ["MULTI"], ["ZMPOP", "1", "z", "MAX"], ["EXEC"], ["ZADD", "z", "7", "k", "8", "l"]]
CASES["zmpop_resp3"] = [["HELLO", "3"], ["ZADD", "z", "1", "a", "2.5", "b"],
                        ["ZMPOP", "1", "z", "MAX"], ["ZMPOP", "1", "z", "MIN", "COUNT", "3"],
                        ["ZMPOP", "1", "z", "MIN"]]

# ZRANDMEMBER on a one-member set (so that the choice is fixed): counts past the size,
# negative counts repeating, WITHSCORES, the range and option errors, a missing key.
CASES["zrandmember"] = [
    ["ZADD", "one", "1.5", "a"], ["SET", "str", "v"], ["ZRANDMEMBER", "one"],
    ["ZRANDMEMBER", "one", "3"], ["ZRANDMEMBER", "one", "-3"], ["ZRANDMEMBER", "one", "0"],
    ["ZRANDMEMBER", "one", "2", "WITHSCORES"], ["ZRANDMEMBER", "one", "-2", "withscores"],
    ["ZRANDMEMBER", "one", "0", "WITHSCORES"], ["ZRANDMEMBER", "nokey"],
    ["ZRANDMEMBER", "nokey", "2"], ["ZRANDMEMBER", "nokey", "-2", "WITHSCORES"],
    ["ZRANDMEMBER", "str"], ["ZRANDMEMBER", "str", "1"], ["ZRANDMEMBER", "one", "x"],
    ["ZRANDMEMBER", "one", "1", "WITHSCORE"], ["ZRANDMEMBER", "one", "1", "WITHSCORES", "x"],
    ["ZRANDMEMBER", "one", "x", "WITHSCORES"], ["ZRANDMEMBER", "one", "-9223372036854775808"],
    ["ZRANDMEMBER", "one", "9223372036854775807", "WITHSCORES"],
    ["ZRANDMEMBER", "one", "4611686018427387904", "WITHSCORES"], ["ZCARD", "one"]]
CASES["zrandmember_resp3"] = [["HELLO", "3"], ["ZADD", "one", "1.5", "a"],
                              ["ZRANDMEMBER", "one", "1", "WITHSCORES"],
                              ["ZRANDMEMBER", "one", "-2", "WITHSCORES"],
                              ["ZRANDMEMBER", "one", "1"], ["ZRANDMEMBER", "nokey"],
                              ["ZRANDMEMBER", "nokey", "1", "WITHSCORES"]]

# SSCAN HSCAN ZSCAN on small collections (one page, cursor 0, as Redis's compact encodings
# give): MATCH, COUNT, scores as ZSCAN formats them, the checks in Redis's order (cursor,
# key, options: a missing key is an empty page even with a bad option). Non-integer sets
# are hash tables in Redis 7.0, whose pages depend on its hash seed: they are scanned from
# cursor 0 with the default COUNT only, which returns them whole.
CASES["collection_scan"] = [
    ["SADD", "s", "m1"], ["SADD", "s2", "apple", "banana", "avocado"], ["HSET", "h", "f", "1"],
    ["HSET", "h2", "name", "x", "age", "3", "nick", "y"],
    ["ZADD", "z", "0.1", "a", "1e20", "b", "1.5", "c", "-inf", "d", "3", "e"], ["SET", "str", "v"],
    ["SSCAN", "s", "0"], ["ZSCAN", "z", "7", "COUNT", "100"], ["SSCAN", "s2", "0", "MATCH", "b*"],
    ["SSCAN", "s2", "0", "MATCH", "x*"], ["ZSCAN", "z", "0", "MATCH", "*", "COUNT", "1"],
    ["HSCAN", "h", "0"], ["HSCAN", "h2", "0", "MATCH", "n?me"], ["HSCAN", "h2", "0", "MATCH", "*k"],
    ["ZSCAN", "z", "0"], ["ZSCAN", "z", "0", "MATCH", "[a-c]", "COUNT", "2"],
    ["ZSCAN", "z", "0", "match", "e"], ["SSCAN", "nokey", "0"],
    ["HSCAN", "nokey", "0", "COUNT", "0"],
    ["ZSCAN", "nokey", "0", "FOO"], ["SSCAN", "str", "0"], ["HSCAN", "s", "0"], ["ZSCAN", "h", "0"],
    ["SSCAN", "s", "x"], ["ZSCAN", "z", "-1"], ["SSCAN", "s", "18446744073709551616"],
    ["SSCAN", "nokey", "x"], ["SSCAN", "s", "0", "COUNT", "0"], ["SSCAN", "s", "0", "COUNT", "x"],
    ["SSCAN", "s", "0", "MATCH"], ["SSCAN", "s", "0", "TYPE", "set"],
    ["SSCAN", "s", "0", "FOO", "1"],
    ["HSCAN", "h", "0", "NOVALUES"], ["SSCAN", "s"]]
CASES["collection_scan_resp3"] = [["HELLO", "3"], ["ZADD", "z", "2.5", "a"],
                                  ["HSET", "h", "f", "v"], ["ZSCAN", "z", "0"],
                                  ["HSCAN", "h", "0"], ["SSCAN", "nokey", "0"]]

# LPOS, LMOVE, RPOPLPUSH and LMPOP: option errors in Redis's order, missing and wrong-type
# sources and destinations, rotation of one list, and an emptied source.
CASES["list_moves"] = [
    ["RPUSH", "l", "a", "b", "c", "b", "a", "b"], ["SET", "str", "v"],
    ["LPOS", "l", "b"], ["LPOS", "l", "b", "RANK", "2"], ["LPOS", "l", "b", "RANK", "-1"],
    ["LPOS", "l", "b", "RANK", "-2", "COUNT", "0"], ["LPOS", "l", "b", "COUNT", "2"],
    ["LPOS", "l", "b", "COUNT", "0", "MAXLEN", "4"], ["LPOS", "l", "b", "RANK", "-1", "MAXLEN", "1"],
    ["LPOS", "l", "b", "RANK", "9"], ["LPOS", "l", "z"], ["LPOS", "l", "z", "COUNT", "1"],
    ["LPOS", "l", "b", "RANK", "0"], ["LPOS", "l", "b", "RANK", "x"],
    ["LPOS", "l", "b", "RANK", "-9223372036854775808"], ["LPOS", "l", "b", "COUNT", "-1"],
    ["LPOS", "l", "b", "RANK", "-9223372036854775808", "COUNT", "0"],
    ["LPOS", "l", "b", "COUNT", "x"], ["LPOS", "l", "b", "MAXLEN", "-1"],
    ["LPOS", "l", "b", "MAXLEN", "x"], ["LPOS", "l", "b", "FOO", "1"], ["LPOS", "l", "b", "RANK"],
    ["LPOS", "nokey", "b"], ["LPOS", "nokey", "b", "COUNT", "0"], ["LPOS", "str", "b"],
    ["LPOS", "l"],
    ["LMOVE", "l", "m", "LEFT", "RIGHT"], ["LMOVE", "l", "m", "RIGHT", "LEFT"],
    ["LRANGE", "m", "0", "-1"], ["LMOVE", "l", "l", "LEFT", "RIGHT"], ["LRANGE", "l", "0", "-1"],
    ["LMOVE", "l", "l", "RIGHT", "LEFT"], ["LMOVE", "l", "l", "LEFT", "LEFT"],
    ["LRANGE", "l", "0", "-1"], ["LMOVE", "l", "str", "LEFT", "LEFT"], ["LRANGE", "l", "0", "-1"],
    ["LMOVE", "str", "m", "LEFT", "LEFT"], ["LMOVE", "nokey", "str", "LEFT", "LEFT"],
    ["LMOVE", "nokey", "m", "LEFT", "LEFT"], ["LMOVE", "l", "m", "UP", "LEFT"],
    ["LMOVE", "l", "m", "LEFT"], ["RPOPLPUSH", "l", "m"], ["RPOPLPUSH", "nokey", "m"],
    ["RPOPLPUSH", "l", "str"], ["RPOPLPUSH", "l"], ["RPUSH", "one", "x"],
    ["RPOPLPUSH", "one", "two"], ["EXISTS", "one"], ["LRANGE", "two", "0", "-1"],
    ["LMPOP", "2", "nokey", "l", "LEFT"], ["LMPOP", "2", "nokey", "l", "RIGHT", "COUNT", "2"],
    ["LMPOP", "1", "l", "LEFT", "COUNT", "100"], ["EXISTS", "l"], ["LMPOP", "1", "l", "LEFT"],
    ["LMPOP", "2", "str", "m", "LEFT"], ["LMPOP", "2", "nokey", "str", "LEFT"],
    ["LMPOP", "0", "l", "LEFT"], ["LMPOP", "-1", "l", "LEFT"], ["LMPOP", "x", "l", "LEFT"],
    ["LMPOP", "3", "l", "LEFT"], ["LMPOP", "2", "l", "LEFT"], ["LMPOP", "1", "m", "UP"],
    ["LMPOP", "1", "m", "LEFT", "COUNT", "0"], ["LMPOP", "1", "m", "LEFT", "COUNT", "x"],
    ["LMPOP", "1", "m", "LEFT", "COUNT", "1", "COUNT", "1"], ["LMPOP", "1", "m", "LEFT", "COUNT"],
    ["LMPOP", "1", "m", "LEFT", "FOO"], ["LMPOP", "1", "m"], ["LRANGE", "m", "0", "-1"]]
CASES["list_moves_resp3"] = [["HELLO", "3"], ["RPUSH", "l", "a", "b"], ["LPOS", "l", "z"],
                             ["LMPOP", "1", "l", "LEFT"], ["LMPOP", "1", "nokey", "LEFT"],
                             ["LMOVE", "nokey", "l", "LEFT", "LEFT"]]

# SMOVE, the set algebra and its STORE forms, SINTERCARD, SRANDMEMBER (replies of
# several members, whose order Redis leaves unspecified, are checked through SCARD and
# SISMEMBER or kept to one member).
CASES["set_algebra"] = [
    ["SADD", "a", "1", "2", "3", "4"], ["SADD", "b", "3", "4", "5"], ["SADD", "c", "4", "6"],
    ["SET", "str", "v"],
    ["SINTER", "a", "b", "c"], ["SINTER", "a", "nokey"], ["SINTER", "a", "str"],
    ["SINTER", "nokey", "str"], ["SINTER", "a", "c"], ["SUNION", "nokey", "nokey2"],
    ["SADD", "u", "7"], ["SUNION", "u", "nokey", "u"],
    ["SUNION", "a", "str"], ["SDIFF", "b", "a"], ["SDIFF", "b", "a", "c"], ["SDIFF", "nokey", "a"],
    ["SDIFF", "a", "str"], ["SDIFF", "str", "a"], ["SINTER"],
    ["SINTERSTORE", "d", "a", "b"], ["SCARD", "d"], ["SISMEMBER", "d", "3"],
    ["SINTERSTORE", "d", "a", "nokey"], ["EXISTS", "d"], ["SUNIONSTORE", "d", "a", "b", "c"],
    ["SCARD", "d"], ["SDIFFSTORE", "d", "a", "b"], ["SCARD", "d"], ["SISMEMBER", "d", "1"],
    ["SDIFFSTORE", "str", "c", "a"], ["TYPE", "str"], ["SMEMBERS", "str"],
    ["SUNIONSTORE", "d", "a", "str"], ["SCARD", "d"], ["SUNIONSTORE", "a", "a", "c"], ["SCARD", "a"],
    ["SDIFFSTORE", "d"], ["SET", "str", "v"],
    ["SINTERCARD", "2", "a", "b"], ["SINTERCARD", "2", "a", "b", "LIMIT", "1"],
    ["SINTERCARD", "2", "a", "b", "LIMIT", "0"], ["SINTERCARD", "1", "a", "LIMIT", "2"],
    ["SINTERCARD", "2", "a", "nokey"], ["SINTERCARD", "2", "a", "str"],
    ["SINTERCARD", "0", "a"], ["SINTERCARD", "-1", "a"], ["SINTERCARD", "x", "a"],
    ["SINTERCARD", "3", "a", "b"], ["SINTERCARD", "2", "a", "b", "LIMIT", "-1"],
    ["SINTERCARD", "2", "a", "b", "LIMIT", "x"], ["SINTERCARD", "2", "a", "b", "LIMIT"],
    ["SINTERCARD", "2", "a", "b", "FOO", "1"], ["SINTERCARD", "1"],
    ["SMOVE", "b", "e", "5"], ["SMEMBERS", "e"], ["SISMEMBER", "b", "5"], ["SMOVE", "b", "e", "9"],
    ["SMOVE", "nokey", "e", "1"], ["SMOVE", "nokey", "str", "1"], ["SMOVE", "b", "str", "3"],
    ["SMOVE", "b", "str", "9"], ["SMOVE", "str", "e", "1"], ["SMOVE", "b", "b", "3"],
    ["SMOVE", "b", "b", "9"], ["SMOVE", "e", "b", "5"], ["EXISTS", "e"], ["SMOVE", "b", "e"],
    ["SADD", "one", "x"], ["SRANDMEMBER", "one"], ["SRANDMEMBER", "one", "5"],
    ["SRANDMEMBER", "one", "-3"], ["SRANDMEMBER", "one", "0"], ["SRANDMEMBER", "nokey"],
    ["SRANDMEMBER", "nokey", "3"], ["SRANDMEMBER", "nokey", "-3"], ["SRANDMEMBER", "str"],
    ["SRANDMEMBER", "str", "1"], ["SRANDMEMBER", "one", "x"], ["SRANDMEMBER", "one", "1", "2"],
    ["SRANDMEMBER", "one", "-9223372036854775808"], ["SCARD", "one"]]
CASES["set_algebra_resp3"] = [["HELLO", "3"], ["SADD", "a", "1"], ["SADD", "b", "1"],
                              ["SINTER", "a", "b"], ["SINTER", "a", "nokey"], ["SUNION", "a"],
                              ["SDIFF", "a", "b"], ["SRANDMEMBER", "a", "-2"],
                              ["SRANDMEMBER", "nokey"], ["SRANDMEMBER", "nokey", "1"]]
# HINCRBYFLOAT (long double arithmetic, Redis's formatting) and HRANDFIELD.
CASES["hash_float"] = [
    ["HSET", "h", "f", "10.5", "i", "3", "e", "5.0e3", "s", "abc"], ["SET", "str", "v"],
    ["HINCRBYFLOAT", "h", "f", "0.1"], ["HINCRBYFLOAT", "h", "i", "-3"],
    ["HINCRBYFLOAT", "h", "e", "200"], ["HINCRBYFLOAT", "h", "new", "2.5e2"],
    ["HINCRBYFLOAT", "nokey", "f", "1"], ["HINCRBYFLOAT", "h", "s", "1"],
    ["HINCRBYFLOAT", "h", "f", "x"], ["HINCRBYFLOAT", "h", "f", "inf"],
    ["HINCRBYFLOAT", "h", "f", "nan"], ["HINCRBYFLOAT", "h", "f", " 1"],
    ["HINCRBYFLOAT", "h", "f", "1e5000"], ["HSET", "h", "big", "1e308"],
    ["HINCRBYFLOAT", "h", "big", "1e308"], ["HINCRBYFLOAT", "str", "f", "1"],
    ["HINCRBYFLOAT", "h", "f"], ["HGETALL", "nokey"], ["HGET", "h", "f"], ["HGET", "h", "new"],
    ["HINCRBYFLOAT", "h", "zero", "-0.0"], ["HGET", "h", "zero"],
    ["HSET", "one", "k", "v"], ["HRANDFIELD", "one"], ["HRANDFIELD", "one", "3"],
    ["HRANDFIELD", "one", "-2"], ["HRANDFIELD", "one", "2", "WITHVALUES"],
    ["HRANDFIELD", "one", "-2", "withvalues"], ["HRANDFIELD", "one", "0"],
    ["HRANDFIELD", "nokey"], ["HRANDFIELD", "nokey", "2"], ["HRANDFIELD", "nokey", "2", "WITHVALUES"],
    ["HRANDFIELD", "str"], ["HRANDFIELD", "str", "1"], ["HRANDFIELD", "one", "x"],
    ["HRANDFIELD", "one", "1", "FOO"], ["HRANDFIELD", "one", "1", "WITHVALUES", "x"],
    ["HRANDFIELD", "one", "x", "FOO"], ["HRANDFIELD", "one", "-9223372036854775808"],
    ["HRANDFIELD", "one", "9223372036854775807", "WITHVALUES"],
    ["HRANDFIELD", "one", "4611686018427387904", "WITHVALUES"]]
CASES["hash_float_resp3"] = [["HELLO", "3"], ["HSET", "one", "k", "v"],
                             ["HRANDFIELD", "one", "1", "WITHVALUES"],
                             ["HRANDFIELD", "one", "-2", "WITHVALUES"], ["HRANDFIELD", "one", "1"],
                             ["HRANDFIELD", "nokey"], ["HINCRBYFLOAT", "one", "n", "1.5"]]

# COPY (database 0 only: COPY ... DB 1 is refused here, as SELECT 1 is).
CASES["copy"] = [
    ["SET", "a", "1"], ["COPY", "a", "b"], ["GET", "b"], ["COPY", "a", "b"], ["SET", "a", "2"],
    ["COPY", "a", "b", "REPLACE"], ["GET", "b"], ["COPY", "missing", "x"], ["EXISTS", "x"],
    ["COPY", "a", "a"], ["COPY", "a", "c", "DB", "0"], ["COPY", "a", "d", "DB", "x"],
    ["COPY", "a", "d", "FOO"], ["COPY", "a", "d", "DB"], ["COPY", "a", "d", "replace", "db", "0"],
    ["SET", "t", "v", "EX", "100"], ["COPY", "t", "t2"], ["TTL", "t2"], ["COPY", "a", "t2", "REPLACE"],
    ["TTL", "t2"], ["GET", "t2"], ["COPY", "a"], ["COPY", "a", "e", "DB", "-1"],
    ["MULTI"], ["COPY", "a", "m"], ["EXEC"], ["GET", "m"],
    _eval("return redis.call('copy', KEYS[1], KEYS[2])", "2", "a", "s"), ["GET", "s"]]

# The same conversions for a RESP3 connection (the first reply, HELLO's, differs).
CASES["eval_resp3_client"] = [["HELLO", "3"]] + [
    _eval("return {double=3.5}", "0"), _eval("return {map={a=1}}", "0"),
    _eval("return {set={a=true}}", "0"), _eval("return {big_number='123'}", "0"),
    _eval("return {verbatim_string={format='txt', string='hi'}}", "0"),
    _eval("return true", "0"), _eval("return false", "0"), _eval("return nil", "0"),
    _eval("redis.setresp(3) return true", "0"), _eval("redis.setresp(3) return false", "0"),
    _eval("redis.setresp(3) return redis.call('get', 'nokey')", "0"),
    _eval("return redis.call('get', 'nokey')", "0")]

# Blocking pops that need no second client: data there at once, the timeout (short,
# and a fraction rounded up to a millisecond), the argument errors in Redis's order,
# WRONGTYPE, and the non-blocking form they take inside MULTI. Wake-ups by another
# client are in BlockingVersusRedisTest below.
_BLOCKING = [
    ["RPUSH", "l", "a", "b", "c"], ["BLPOP", "none", "l", "0"], ["BRPOP", "l", "0.01"],
    ["BLPOP", "none", "0.01"], ["BRPOP", "none", "other", "0.0001"], ["BLPOP", "l", "-1"],
    ["BLPOP", "l", "x"], ["BLPOP", "l", "nan"], ["BLPOP", "l", "inf"], ["BLPOP", "l", "1e400"],
    ["BLPOP", "l", "-0.0001"], ["BLPOP", "l"], ["SET", "s", "v"], ["BLPOP", "none", "s", "l", "0"],
    ["BLPOP", "l", "s", "0"], ["RPUSH", "src", "1", "2"],
    ["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"], ["BLMOVE", "src", "dst", "UP", "RIGHT", "0"],
    ["BLMOVE", "src", "dst", "LEFT", "RIGHT", "-1"], ["BLMOVE", "src", "s", "LEFT", "RIGHT", "0"],
    ["BLMOVE", "s", "dst", "LEFT", "RIGHT", "0"], ["BLMOVE", "none", "dst", "LEFT", "LEFT", "0.01"],
    ["BRPOPLPUSH", "src", "dst", "0"], ["BRPOPLPUSH", "none", "dst", "0.01"],
    ["BRPOPLPUSH", "none", "dst", "x"], ["LRANGE", "dst", "0", "-1"], ["EXISTS", "src"],
    ["RPUSH", "m", "1", "2", "3"], ["BLMPOP", "0", "2", "none", "m", "LEFT", "COUNT", "2"],
    ["BLMPOP", "0", "1", "m", "RIGHT"], ["BLMPOP", "0.01", "1", "m", "RIGHT"],
    ["BLMPOP", "-1", "1", "m", "LEFT"], ["BLMPOP", "0", "0", "m", "LEFT"],
    ["BLMPOP", "0", "1", "m", "UP"], ["BLMPOP", "x", "1", "m", "FOO"],
    ["BLMPOP", "0", "1", "m", "LEFT", "COUNT", "0"], ["BLMPOP", "0", "1", "s", "LEFT"],
    ["ZADD", "z", "1", "a", "2", "b", "3", "c"], ["BZPOPMIN", "none", "z", "0"],
    ["BZPOPMAX", "z", "0"], ["BZPOPMIN", "none", "0.01"], ["BZPOPMAX", "z", "-2"],
    ["BZPOPMIN", "s", "0"], ["BZPOPMIN", "z"], ["ZADD", "z", "1.5", "x", "2.5", "y"],
    ["BZMPOP", "0", "2", "none", "z", "MIN", "COUNT", "2"], ["BZMPOP", "0.01", "1", "none", "MAX"],
    ["BZMPOP", "0", "1", "z", "MID"], ["BZMPOP", "-1", "1", "z", "MAX"],
    ["BZMPOP", "0", "1", "s", "MAX"],
    ["MULTI"], ["BLPOP", "none", "0"], ["BRPOP", "l", "0"], ["BLMOVE", "none", "d", "LEFT", "LEFT", "0"],
    ["BRPOPLPUSH", "none", "d", "0"], ["BLMPOP", "0", "1", "none", "LEFT"],
    ["BZPOPMIN", "none", "0"], ["BZMPOP", "0", "1", "none", "MIN"], ["BLPOP", "none", "-1"],
    ["EXEC"],
    ["MULTI"], ["BLPOP", "none", "0"], ["EXEC"],
    _eval("return redis.call('blpop', 'l', 0)", "0"),
    ["CLIENT", "UNBLOCK", "999999"], ["CLIENT", "UNBLOCK", "x"], ["CLIENT", "UNBLOCK", "1", "FOO"],
    ["CLIENT", "UNBLOCK", "1", "error"], ["CLIENT", "UNBLOCK", "1", "TIMEOUT", "x"]]
CASES["blocking"] = _BLOCKING
CASES["blocking_resp3"] = [["HELLO", "3"]] + _BLOCKING

# Cases whose first reply differs by design (HELLO reports this server's version and
# client id): compare from the second reply on.
SKIP_FIRST_REPLY = {"resp3", "eval_resp3_client", "collections_resp3", "zset_ranges_resp3",
                    "list_moves_resp3", "set_algebra_resp3", "hash_float_resp3",
                    "zset_combine_resp3", "zmpop_resp3", "zrandmember_resp3",
                    "collection_scan_resp3", "blocking_resp3"}


def run_case(port, case):
    with harness.connect(port) as s:
        reader = harness.RespReader(s)
        s.sendall(C("FLUSHALL"))
        reader.read()
        replies = []
        if isinstance(case, bytes):
            s.sendall(case)
            count = case.count(b"\n") - case.count(b"\n \r\n") - 0
            # Blank lines produce no reply.
            count = sum(1 for line in case.split(b"\n") if line.strip(b" \r"))
            for _ in range(count):
                replies.append(reader.read())
            return replies
        for command in case:
            s.sendall(C(*command))
            replies.append(reader.read())
        return replies


class SideBySideTestCase(unittest.TestCase):
    """A redis-server and a mirrorkv-server for the whole class, stopped (and the
    mirrorkv-server's exit checked) at its end."""

    @classmethod
    def setUpClass(cls):
        cls.redis = harness.ServerProcess(redis=True).start()
        cls.mirrorkv = harness.ServerProcess().start()

    @classmethod
    def tearDownClass(cls):
        cls.redis.cleanup()
        try:
            harness.stop_and_check(cls.mirrorkv)
        finally:
            cls.mirrorkv.cleanup()


@unittest.skipUnless(os.path.exists(harness.REDIS_SERVER), "redis-server is not installed")
class VersusRedisTest(SideBySideTestCase):

    def check(self, name):
        case = CASES[name]
        expected = run_case(self.redis.port, case)
        actual = run_case(self.mirrorkv.port, case)
        commands = case if not isinstance(case, bytes) else case.split(b"\n")
        start = 1 if name in SKIP_FIRST_REPLY else 0
        for i in range(start, len(expected)):
            self.assertEqual(actual[i], expected[i],
                             "%s: reply %d to %r differs" % (name, i, commands[i]))


# Blocking commands served by another client's write. Each scenario is a list of steps
# over named connections (opened on first use, in RESP3 when the name ends in "3"):
#   (name, command)          send and read the reply
#   (name, command, "wait")  send only: the command blocks; its reply is read by
#   ("read", name)           ... this step, in the order the steps give
#   ("blocked", n)           wait until INFO's blocked_clients is n (so the order in which
#                            clients blocked is the steps' order)
#   ("id", name)             remember the connection's CLIENT ID as "$name" (not compared)
#   ("close", name)          disconnect
BLOCKING_SCENARIOS = {
    "wake_by_push": [
        ("a", ["BLPOP", "none", "k", "0"], "wait"), ("blocked", 1),
        ("b", ["RPUSH", "k", "v1", "v2"]), ("read", "a"), ("b", ["LRANGE", "k", "0", "-1"]),
        ("a", ["PING"]), ("blocked", 0)],
    "fifo_two_clients": [
        ("a", ["BRPOP", "k", "0"], "wait"), ("blocked", 1), ("b3", ["BRPOP", "k", "0"], "wait"),
        ("blocked", 2), ("c", ["LPUSH", "k", "x"]), ("read", "a"), ("blocked", 1),
        ("c", ["LPUSH", "k", "y", "z"]), ("read", "b3"), ("c", ["LRANGE", "k", "0", "-1"])],
    "fifo_one_push_serves_both": [
        ("a", ["BLPOP", "k", "0"], "wait"), ("blocked", 1), ("b", ["BLPOP", "k", "0"], "wait"),
        ("blocked", 2), ("c", ["RPUSH", "k", "1", "2", "3"]), ("read", "a"), ("read", "b"),
        ("blocked", 0), ("c", ["LRANGE", "k", "0", "-1"])],
    "second_key_gets_data": [
        ("a", ["BLPOP", "k1", "k2", "0"], "wait"), ("blocked", 1), ("c", ["RPUSH", "k2", "v"]),
        ("read", "a")],
    "type_change_keeps_blocked": [
        ("a", ["BLPOP", "k", "0"], "wait"), ("blocked", 1), ("c", ["SET", "k", "str"]),
        ("c", ["DEL", "k"]), ("c", ["SADD", "k", "m"]), ("c", ["DEL", "k"]), ("blocked", 1),
        ("c", ["RPUSH", "k", "v"]), ("read", "a"), ("c", ["EXISTS", "k"])],
    "wake_by_multi_exec": [
        ("a3", ["BLPOP", "k", "0"], "wait"), ("blocked", 1), ("c", ["MULTI"]),
        ("c", ["RPUSH", "k", "a"]), ("c", ["RPUSH", "k", "b"]), ("c", ["EXEC"]), ("read", "a3"),
        ("c", ["LRANGE", "k", "0", "-1"])],
    "wake_by_script": [
        ("a", ["BZPOPMAX", "z", "0"], "wait"), ("blocked", 1),
        ("c", _eval("return redis.call('zadd', KEYS[1], 1, 'a', 2, 'b')", "1", "z")),
        ("read", "a"), ("c", ["ZRANGE", "z", "0", "-1", "WITHSCORES"])],
    "blmove_wake_and_wrong_destination": [
        ("a", ["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"], "wait"), ("blocked", 1),
        ("c", ["RPUSH", "src", "1", "2"]), ("read", "a"), ("c", ["LRANGE", "dst", "0", "-1"]),
        ("c", ["DEL", "src"]), ("c", ["SET", "dst", "str"]),
        ("a", ["BRPOPLPUSH", "src", "dst", "0"], "wait"), ("blocked", 1),
        ("c", ["RPUSH", "src", "x"]), ("read", "a"), ("c", ["LRANGE", "src", "0", "-1"])],
    "blmove_chain": [
        ("a", ["BLMOVE", "one", "two", "LEFT", "LEFT", "0"], "wait"), ("blocked", 1),
        ("b", ["BLPOP", "two", "0"], "wait"), ("blocked", 2), ("c", ["RPUSH", "one", "v"]),
        ("read", "a"), ("read", "b"), ("c", ["EXISTS", "one", "two"])],
    "bzpop_and_bzmpop": [
        ("a3", ["BZPOPMIN", "z", "0"], "wait"), ("blocked", 1),
        ("b", ["BZMPOP", "0", "2", "y", "z", "MAX", "COUNT", "5"], "wait"), ("blocked", 2),
        ("c", ["ZADD", "z", "1", "a", "2", "b", "3", "c"]), ("read", "a3"), ("read", "b"),
        ("b", ["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "2"], "wait"), ("blocked", 1),
        ("c", ["RPUSH", "l", "1", "2", "3"]), ("read", "b"), ("c", ["LRANGE", "l", "0", "-1"])],
    "timeouts": [
        ("a", ["BLPOP", "k", "0.2"], "wait"), ("b3", ["BLPOP", "k", "0.2"], "wait"),
        ("c", ["BLMOVE", "k", "d", "LEFT", "LEFT", "0.2"], "wait"),
        ("d3", ["BRPOPLPUSH", "k", "d", "0.2"], "wait"), ("read", "a"), ("read", "b3"),
        ("read", "c"), ("read", "d3"), ("blocked", 0), ("e", ["RPUSH", "k", "v"]),
        ("e", ["LLEN", "k"])],
    "client_unblock": [
        ("id", "a"), ("id", "b3"), ("a", ["BLPOP", "k", "0"], "wait"),
        ("b3", ["BZPOPMIN", "k2", "0"], "wait"), ("blocked", 2),
        ("c", ["CLIENT", "UNBLOCK", "$a"]), ("read", "a"),
        ("c", ["CLIENT", "UNBLOCK", "$b3", "ERROR"]), ("read", "b3"),
        ("c", ["CLIENT", "UNBLOCK", "$a"]), ("blocked", 0), ("a", ["PING"]), ("b3", ["PING"])],
    "disconnect_frees": [
        ("a", ["BLPOP", "k", "0"], "wait"), ("blocked", 1), ("close", "a"), ("blocked", 0),
        ("c", ["RPUSH", "k", "v"]), ("c", ["LLEN", "k"])],
    "pipelined_after_block": [
        ("a", ["BLPOP", "k", "0"], "wait"), ("a", ["GET", "x"], "wait"), ("blocked", 1),
        ("c", ["SET", "x", "1"]), ("c", ["RPUSH", "k", "v"]), ("read", "a"), ("read", "a")],
}


def blocked_clients(port):
    return int(harness.info_fields(port, "clients")["blocked_clients"])


def run_blocking_scenario(port, steps):
    """Runs the steps on a fresh database; returns the replies read, in order."""
    conns = {}
    ids = {}

    def conn(name):
        if name not in conns:
            sock = harness.connect(port)
            reader = harness.RespReader(sock)
            if name.endswith("3"):
                sock.sendall(C("HELLO", "3"))
                reader.read()
            conns[name] = (sock, reader)
        return conns[name]

    replies = []
    try:
        sock, reader = conn("admin")
        sock.sendall(C("FLUSHALL"))
        reader.read()
        for step in steps:
            if step[0] == "blocked":
                harness.wait_until(lambda: blocked_clients(port) == step[1],
                                   what="%d blocked clients" % step[1])
            elif step[0] == "read":
                replies.append(conn(step[1])[1].read())
            elif step[0] == "id":
                sock, reader = conn(step[1])
                sock.sendall(C("CLIENT", "ID"))
                ids["$" + step[1]] = reader.read()[1:-2].decode()
            elif step[0] == "close":
                conns.pop(step[1])[0].close()
            else:
                sock, reader = conn(step[0])
                sock.sendall(C(*[ids.get(arg, arg) for arg in step[1]]))
                if len(step) == 2:
                    replies.append(reader.read())
        return replies
    finally:
        for sock, _ in conns.values():
            sock.close()


@unittest.skipUnless(os.path.exists(harness.REDIS_SERVER), "redis-server is not installed")
class BlockingVersusRedisTest(SideBySideTestCase):
    """Blocking commands woken by other clients, side by side with redis-server."""

    def check(self, name):
        steps = BLOCKING_SCENARIOS[name]
        expected = run_blocking_scenario(self.redis.port, steps)
        actual = run_blocking_scenario(self.mirrorkv.port, steps)
        self.assertEqual(actual, expected, name)

    def test_becoming_a_replica_unblocks_with_an_error(self):
        # Not in BLOCKING_SCENARIOS: those also run on a primary with a replica.
        steps = [("a", ["BLPOP", "k", "0"], "wait"), ("b3", ["BZPOPMIN", "z", "5"], "wait"),
                 ("blocked", 2), ("c", ["REPLICAOF", "127.0.0.1", str(harness.free_port())]),
                 ("read", "a"), ("read", "b3"), ("blocked", 0), ("c", ["REPLICAOF", "NO", "ONE"])]
        expected = run_blocking_scenario(self.redis.port, steps)
        actual = run_blocking_scenario(self.mirrorkv.port, steps)
        self.assertEqual(actual, expected)


def _add_tests():
    for name in CASES:
        setattr(VersusRedisTest, "test_" + name, lambda self, name=name: self.check(name))
    for name in BLOCKING_SCENARIOS:
        setattr(BlockingVersusRedisTest, "test_" + name, lambda self, name=name: self.check(name))


_add_tests()

if __name__ == "__main__":
    unittest.main(verbosity=2)
