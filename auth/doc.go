// Package auth decides who may connect (authentication) and what each
// client may do with which topic (authorization). The broker asks through
// two small interfaces, Authenticator and Authorizer; implementations are a
// Mosquitto-format password file, Mosquitto-format ACL files (and the same
// rules from YAML), and an HTTP hook that asks a URL.
//
// # Password files
//
// PasswordFile reads the files mosquitto_passwd writes: "user:hash" lines
// with $7$ (PBKDF2-HMAC-SHA512, Mosquitto 2) or $6$ (salted SHA-512,
// Mosquitto 1.x) hashes. NewHash and ParseHash make and read single hashes;
// "mast passwd" uses them to edit files both brokers accept. Limiter slows
// down repeated failures from one address.
//
// # ACLs
//
// ACL follows Mosquitto 2.0's acl_file semantics for Read and Write
// exactly (a test compares it with a running Mosquitto); see ACL for the
// rules, and for how Subscribe is decided. What the broker must do:
//
//   - Write: check each PUBLISH topic (and the will topic at CONNECT).
//   - Subscribe: check each filter of a SUBSCRIBE (with "$share/group/"
//     stripped; ACL strips it too). A denial is SUBACK 0x87 (v5) or 0x80.
//   - Read: check every delivery, retained messages included, with the
//     message's topic — not only for wildcard subscriptions: Mosquitto
//     grants SUBSCRIBE to anything, so a literal filter can be granted and
//     still be unreadable. For a literal filter the answer is the same for
//     every message, so it may be computed once per subscription and ACL.
//   - On reload, swap the whole Authenticator or Authorizer value: none of
//     the types here is ever modified after it is built.
//
// # Plugins
//
// Any type with an Authenticate or Allow method of the right shape plugs
// in. Allow is on the delivery path: it must be fast, must not block for
// long, and must be safe for concurrent use. HTTPHook is the example of an
// external decision-maker: it caches answers and fails closed.
package auth
