package consistency

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrBadToken is wrapped by every error about a malformed token or
// position.
var ErrBadToken = errors.New("consistency: malformed token")

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadToken}, args...)...)
}

// maxGTIDParts bounds the pieces a GTID set or list may have, so that a
// hostile token cannot make a parser allocate without limit.
const maxGTIDParts = 4096

// interval is a closed range of transaction numbers.
type interval struct{ lo, hi uint64 }

// uuidSet is one server's transactions in a MySQL GTID set.
type uuidSet struct {
	uuid      [16]byte
	intervals []interval // sorted, disjoint, not adjacent
}

// mysqlSet is a MySQL GTID set, sorted by uuid.
type mysqlSet []uuidSet

// parseMySQLSet parses MySQL's GTID set text, as @@global.gtid_executed
// shows it: "uuid:1-5:7,uuid2:1-3", with optional white space and line
// breaks. Tagged GTIDs (MySQL 8.3+, "uuid:tag:1-5") are not supported.
func parseMySQLSet(s string) (mysqlSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return mysqlSet{}, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxGTIDParts {
		return nil, badf("GTID set has more than %d parts", maxGTIDParts)
	}
	byUUID := map[[16]byte][]interval{}
	total := 0
	for _, p := range parts {
		fields := strings.Split(strings.TrimSpace(p), ":")
		if len(fields) < 2 {
			return nil, badf("GTID set part %q has no interval", p)
		}
		u, err := parseUUID(fields[0])
		if err != nil {
			return nil, err
		}
		total += len(fields) - 1
		if total > maxGTIDParts {
			return nil, badf("GTID set has more than %d intervals", maxGTIDParts)
		}
		for _, f := range fields[1:] {
			iv, err := parseInterval(f)
			if err != nil {
				return nil, err
			}
			byUUID[u] = append(byUUID[u], iv)
		}
	}
	set := make(mysqlSet, 0, len(byUUID))
	for u, ivs := range byUUID {
		set = append(set, uuidSet{uuid: u, intervals: normalize(ivs)})
	}
	sort.Slice(set, func(i, j int) bool { return string(set[i].uuid[:]) < string(set[j].uuid[:]) })
	return set, nil
}

func parseInterval(f string) (interval, error) {
	lo, hi, isRange := strings.Cut(f, "-")
	a, err := strconv.ParseUint(lo, 10, 63)
	if err != nil || a == 0 {
		return interval{}, badf("bad GTID interval %q", f)
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(hi, 10, 63); err != nil || b < a {
			return interval{}, badf("bad GTID interval %q", f)
		}
	}
	return interval{a, b}, nil
}

// normalize sorts intervals and merges overlapping and adjacent ones.
func normalize(ivs []interval) []interval {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].lo < ivs[j].lo })
	out := ivs[:0]
	for _, iv := range ivs {
		if n := len(out); n > 0 && iv.lo <= out[n-1].hi+1 {
			if iv.hi > out[n-1].hi {
				out[n-1].hi = iv.hi
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	s = strings.TrimSpace(s)
	hex := strings.ReplaceAll(s, "-", "")
	if len(hex) != 32 || len(s) != 36 && len(s) != 32 {
		return u, badf("bad server uuid %q", s)
	}
	for i := 0; i < 16; i++ {
		b, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		if err != nil {
			return u, badf("bad server uuid %q", s)
		}
		u[i] = byte(b)
	}
	return u, nil
}

func formatUUID(u [16]byte) string {
	const hexdigits = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexdigits[x>>4], hexdigits[x&15]
		j += 2
	}
	return string(b[:])
}

// String returns MySQL's text form, with sep between servers ("," in
// MySQL's own form).
func (s mysqlSet) format(sep string) string {
	var b strings.Builder
	for i, us := range s {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(formatUUID(us.uuid))
		for _, iv := range us.intervals {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(iv.lo, 10))
			if iv.hi != iv.lo {
				b.WriteByte('-')
				b.WriteString(strconv.FormatUint(iv.hi, 10))
			}
		}
	}
	return b.String()
}

// contains reports whether s holds every transaction of t. It does not
// allocate.
func (s mysqlSet) contains(t mysqlSet) bool {
	i := 0
	for _, tu := range t {
		for i < len(s) && string(s[i].uuid[:]) < string(tu.uuid[:]) {
			i++
		}
		if i == len(s) || s[i].uuid != tu.uuid {
			if len(tu.intervals) == 0 {
				continue
			}
			return false
		}
		if !intervalsContain(s[i].intervals, tu.intervals) {
			return false
		}
	}
	return true
}

func intervalsContain(have, want []interval) bool {
	j := 0
	for _, w := range want {
		for j < len(have) && have[j].hi < w.lo {
			j++
		}
		if j == len(have) || have[j].lo > w.lo || have[j].hi < w.hi {
			return false
		}
	}
	return true
}

// union returns the set of transactions in s or t.
func (s mysqlSet) union(t mysqlSet) mysqlSet {
	out := make(mysqlSet, 0, len(s)+len(t))
	i, j := 0, 0
	for i < len(s) || j < len(t) {
		switch {
		case j == len(t) || i < len(s) && string(s[i].uuid[:]) < string(t[j].uuid[:]):
			out = append(out, uuidSet{s[i].uuid, append([]interval(nil), s[i].intervals...)})
			i++
		case i == len(s) || string(t[j].uuid[:]) < string(s[i].uuid[:]):
			out = append(out, uuidSet{t[j].uuid, append([]interval(nil), t[j].intervals...)})
			j++
		default:
			ivs := append(append([]interval(nil), s[i].intervals...), t[j].intervals...)
			out = append(out, uuidSet{s[i].uuid, normalize(ivs)})
			i++
			j++
		}
	}
	return out
}

// missing counts the transactions of t that s does not hold (saturating).
func (s mysqlSet) missing(t mysqlSet) uint64 {
	var n uint64
	for _, tu := range t {
		var have []interval
		for _, su := range s {
			if su.uuid == tu.uuid {
				have = su.intervals
				break
			}
		}
		for _, w := range tu.intervals {
			n = satAdd(n, w.hi-w.lo+1)
			for _, h := range have {
				lo, hi := max(h.lo, w.lo), min(h.hi, w.hi)
				if lo <= hi {
					n -= hi - lo + 1
				}
			}
		}
	}
	return n
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// mariaGTID is one replication domain's last transaction in a MariaDB GTID
// list: domain-server-sequence.
type mariaGTID struct {
	domain uint32
	server uint32
	seq    uint64
}

// mariaList is a MariaDB GTID list, one entry per domain, sorted by domain.
type mariaList []mariaGTID

// parseMariaList parses MariaDB's GTID list text ("0-1-7,1-2-9"), as
// @@gtid_current_pos and @@last_gtid show it.
func parseMariaList(s string) (mariaList, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return mariaList{}, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxGTIDParts {
		return nil, badf("GTID list has more than %d parts", maxGTIDParts)
	}
	l := make(mariaList, 0, len(parts))
	for _, p := range parts {
		f := strings.Split(strings.TrimSpace(p), "-")
		if len(f) != 3 {
			return nil, badf("bad MariaDB GTID %q", p)
		}
		d, err1 := strconv.ParseUint(f[0], 10, 32)
		srv, err2 := strconv.ParseUint(f[1], 10, 32)
		seq, err3 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, badf("bad MariaDB GTID %q", p)
		}
		l = append(l, mariaGTID{uint32(d), uint32(srv), seq})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].domain < l[j].domain })
	// One entry per domain: keep the highest sequence.
	out := l[:0]
	for _, g := range l {
		if n := len(out); n > 0 && out[n-1].domain == g.domain {
			if g.seq > out[n-1].seq {
				out[n-1] = g
			}
			continue
		}
		out = append(out, g)
	}
	return out, nil
}

func (l mariaList) format(sep string) string {
	var b strings.Builder
	for i, g := range l {
		if i > 0 {
			b.WriteString(sep)
		}
		fmt.Fprintf(&b, "%d-%d-%d", g.domain, g.server, g.seq)
	}
	return b.String()
}

// contains reports whether a server at position l has applied every
// transaction up to t: for each of t's domains, l's sequence number is at
// least t's. It does not allocate.
func (l mariaList) contains(t mariaList) bool {
	i := 0
	for _, g := range t {
		for i < len(l) && l[i].domain < g.domain {
			i++
		}
		if i == len(l) || l[i].domain != g.domain || l[i].seq < g.seq {
			return false
		}
	}
	return true
}

// union keeps the highest sequence per domain.
func (l mariaList) union(t mariaList) mariaList {
	out := make(mariaList, 0, len(l)+len(t))
	i, j := 0, 0
	for i < len(l) || j < len(t) {
		switch {
		case j == len(t) || i < len(l) && l[i].domain < t[j].domain:
			out = append(out, l[i])
			i++
		case i == len(l) || t[j].domain < l[i].domain:
			out = append(out, t[j])
			j++
		default:
			g := l[i]
			if t[j].seq > g.seq {
				g = t[j]
			}
			out = append(out, g)
			i++
			j++
		}
	}
	return out
}

// missing counts the transactions of t beyond l, by sequence number.
func (l mariaList) missing(t mariaList) uint64 {
	var n uint64
	for _, g := range t {
		have := uint64(0)
		for _, h := range l {
			if h.domain == g.domain {
				have = h.seq
			}
		}
		if g.seq > have {
			n = satAdd(n, g.seq-have)
		}
	}
	return n
}
