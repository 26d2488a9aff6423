// Package listener opens the sockets the broker serves: TCP over IPv4 and
// IPv6 and unix domain sockets, named by one address string each
// ("127.0.0.1:1883", "[::1]:1883", ":1883", "unix:/run/mast.sock"), with
// TLS 1.2 and 1.3 on top when a Config has TLS settings.
//
// A TLS listener (*TLSListener) reads its certificate, key and CA files
// again on Reload (the broker calls it on SIGHUP) without dropping a
// connection: the files in force sit behind an atomic pointer that each new
// handshake reads. Its Accept returns *tls.Conn; PeerCertificate completes
// the handshake and gives the verified client certificate, and
// TLS.Username turns that into an MQTT user name under
// use_identity_as_username / use_subject_as_username.
//
// WebSocket listeners come later and will live here too.
package listener
