package replica

import "github.com/sqlreplica/sqlreplica/internal/redact"

// ErrInvalidDSN is wrapped by the error of a node whose data source name the
// driver could not parse ([Open], [DB.PingContext], and the LastError of
// [DB.Status]). Its text is fixed: nothing of the DSN, which may hold a
// password, reaches an error, a status, an event or a log line. The driver's
// own error is dropped, not wrapped, because its text quotes the DSN.
var ErrInvalidDSN = redact.ErrConnString
