package broker

// Version is the version string the server reports (Options.Version), for
// the admin API.
func (s *Server) Version() string { return s.opts.Version }
