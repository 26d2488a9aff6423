// Package listener opens the sockets the broker serves: TCP over IPv4 and
// IPv6 and unix domain sockets, named by one address string each
// ("127.0.0.1:1883", "[::1]:1883", ":1883", "unix:/run/mast.sock").
// TLS and WebSocket listeners come later and will live here too.
package listener
