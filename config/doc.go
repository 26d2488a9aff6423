// Package config reads mast's configuration into one Config: the
// listeners (with TLS and per-listener settings), the broker's Options,
// limits, persistence, authentication and logging. Two formats map to the
// same Config: mast's YAML (Load, Parse) and Mosquitto's mosquitto.conf
// (LoadMosquitto, ParseMosquitto); LoadAny picks by name and content.
//
// Decoding is strict: an unknown key or directive, or a bad value, is an
// error that names the file and the line. A Mosquitto directive mast does
// not implement yet is refused with ErrUnsupported, never skipped.
package config
