// Package auth decides who may connect (authentication) and what each
// client may do with which topic (authorization). The broker asks through
// two small interfaces, Authenticator and Authorizer; implementations are a
// Mosquitto-format password file, Mosquitto-format ACL files (and the same
// rules from YAML), and an HTTP hook that asks a URL.
package auth
