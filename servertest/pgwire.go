package servertest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// pgError is an ErrorResponse of the PostgreSQL frontend/backend protocol
// (PostgreSQL 15 docs §55.8): its SQLSTATE code and message.
type pgError struct {
	Code    string
	Message string
}

func (e *pgError) Error() string { return "postgres: " + e.Code + " " + e.Message }

// pgQuery runs one simple query (§55.2.2) as user on database db at addr
// (trust authentication: no password) and returns the rows of its last
// result as text. It is the small client the launcher needs for readiness
// and for creating databases; tests use a real driver.
func pgQuery(ctx context.Context, addr, user, db, sql string) ([][]string, error) {
	c, err := dialDeadline(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// StartupMessage: length, protocol 3.0, then name/value pairs.
	var body []byte
	body = binary.BigEndian.AppendUint32(body, 3<<16)
	for _, kv := range [][2]string{{"user", user}, {"database", db}, {"application_name", "servertest"}} {
		body = append(append(append(append(body, kv[0]...), 0), kv[1]...), 0)
	}
	body = append(body, 0)
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(body)+4))
	if _, err := c.Write(append(msg, body...)); err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	if err := pgUntilReady(r, nil); err != nil {
		return nil, err
	}
	q := append([]byte{'Q'}, binary.BigEndian.AppendUint32(nil, uint32(len(sql)+5))...)
	q = append(append(q, sql...), 0)
	if _, err := c.Write(q); err != nil {
		return nil, err
	}
	var rows [][]string
	if err := pgUntilReady(r, &rows); err != nil {
		return nil, err
	}
	_, _ = c.Write([]byte{'X', 0, 0, 0, 4}) // Terminate
	return rows, nil
}

// pgUntilReady reads backend messages up to ReadyForQuery, collecting data
// rows into rows (reset at each RowDescription) and returning the first
// ErrorResponse, or an error for an authentication request other than ok.
func pgUntilReady(r *bufio.Reader, rows *[][]string) error {
	var first error
	for {
		typ, body, err := pgRead(r)
		if err != nil {
			return err
		}
		switch typ {
		case 'R': // Authentication*
			if len(body) < 4 || binary.BigEndian.Uint32(body) != 0 {
				return errors.New("postgres: the server asks for a password; the launcher uses trust authentication")
			}
		case 'E':
			if first == nil {
				first = parsePGError(body)
			}
			if rows == nil {
				return first // during startup an error ends the session
			}
		case 'T':
			if rows != nil {
				*rows = nil
			}
		case 'D':
			if rows != nil {
				row, err := parseDataRow(body)
				if err != nil {
					return err
				}
				*rows = append(*rows, row)
			}
		case 'Z':
			return first
		}
	}
}

func pgRead(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n < 4 || n > 64<<20 {
		return 0, nil, fmt.Errorf("postgres: bad message length %d", n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return hdr[0], body, nil
}

// parsePGError reads the fields of an ErrorResponse (§55.8).
func parsePGError(body []byte) *pgError {
	e := &pgError{}
	for len(body) > 1 {
		code := body[0]
		v, rest, _ := strings.Cut(string(body[1:]), "\x00")
		switch code {
		case 'C':
			e.Code = v
		case 'M':
			e.Message = v
		}
		body = []byte(rest)
	}
	return e
}

// parseDataRow reads a DataRow (§55.7): a count, then each column as a
// length (-1 for NULL, given as "") and its text.
func parseDataRow(body []byte) ([]string, error) {
	bad := errors.New("postgres: malformed DataRow")
	if len(body) < 2 {
		return nil, bad
	}
	n := int(binary.BigEndian.Uint16(body))
	body = body[2:]
	row := make([]string, 0, n)
	for range n {
		if len(body) < 4 {
			return nil, bad
		}
		l := int32(binary.BigEndian.Uint32(body))
		body = body[4:]
		if l < 0 {
			row = append(row, "")
			continue
		}
		if int(l) > len(body) {
			return nil, bad
		}
		row = append(row, string(body[:l]))
		body = body[l:]
	}
	return row, nil
}
