package objectstore

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// The commit log (write-ahead log) makes a commit durable with one
// append and one fdatasync, where a bbolt commit takes two fdatasyncs and
// about ten page writes. Transactions live in the log and in memory (the
// tail, see tail.go) until a checkpoint writes them into the bbolt file
// in one bbolt transaction, many at a time.
//
// Two files, FILE.wal-0 and FILE.wal-1, take turns: the writer appends to
// one while the other holds nothing that the bbolt file lacks. A
// checkpoint switches the writer to the other file (rewriting it from the
// start under a new generation number), writes what the old file held
// into bbolt with bbolt's own fsyncs, and so frees the old file for the
// next switch. No file is created, grown by preallocation or deleted in
// the steady state, so an fdatasync flushes only the appended pages.
//
// A frame is
//
//	uint32 payload length ‖ uint32 CRC-32C of (log id ‖ generation ‖ payload) ‖
//	uint64 generation ‖ payload
//
// where the log id is 8 random bytes kept in the bbolt file's meta bucket
// ("logid"), so a log left beside a new data file (the old one deleted to
// start afresh) fails its checksums and is ignored.
//
// and a payload is one transaction:
//
//	tid (8) ‖ previous tid (8) ‖ uvarint length ‖ txns value (encodeTxn) ‖ uvarint record count ‖
//	per record: oid (8) ‖ uvarint length ‖ records value (encodeRecord)
//
// Reading a file stops at the first frame that is short, fails its
// checksum, belongs to another generation than the file's first frame or
// does not name the frame before it as its predecessor:
// that is the end of what was written since the last switch (a torn
// append was never acknowledged; older frames further on were checkpointed
// before the file was reused). Recovery takes the transactions of both
// files newer than the bbolt file's last one, in tid order, and checks
// that they continue it: each names the tid before it, so a data file
// older than its log (restored from a backup next to a newer log) is
// refused instead of getting a history with a hole. A clean Close
// empties both files.

const (
	walHeader = 16
	// maxTxnBytes bounds a transaction's data, metadata and records'
	// framing, so that its frame's length fits the frame header's 32 bits
	// (Vote refuses larger ones with ErrTxnTooLarge).
	maxTxnBytes = 3 << 30
	// walShrink: a freed file larger than this is truncated, so one big
	// import does not leave a big file behind.
	walShrink = 64 << 20
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)

	errWALFrame = errors.New("objectstore: bad commit log frame")
)

// walFile is one of the two log files.
type walFile struct {
	f    *os.File
	gen  uint64 // generation of the frames written since the last switch
	size int64  // bytes of valid frames of gen
}

// wal is the commit log. Its methods are called by one goroutine at a
// time (the DB's walMu).
type wal struct {
	seed   uint32
	files  [2]*walFile
	active int // index of the file appended to
	buf    []byte
	noSync bool
}

// walPaths returns the two log files of the store at path.
func walPaths(path string) [2]string {
	return [2]string{path + ".wal-0", path + ".wal-1"}
}

// readWAL reads the transactions in the log files of the store at path
// (missing files are empty), oldest generation first. It returns the
// highest generation seen.
func readWAL(path string, seed uint32) ([]*tailTxn, uint64, error) {
	var all []*tailTxn
	var maxGen uint64
	for _, p := range walPaths(path) {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("objectstore: read commit log: %w", err)
		}
		txns, gen, _ := decodeWAL(data, seed)
		maxGen = max(maxGen, gen)
		all = append(all, txns...)
	}
	slices.SortFunc(all, func(a, b *tailTxn) int { return cmp.Compare(a.info.TID.Uint64(), b.info.TID.Uint64()) })
	return all, maxGen, nil
}

// decodeWAL decodes the frames of one file's current generation. It
// returns the transactions, the generation (0 for an empty file) and the
// length of the valid frames.
func decodeWAL(data []byte, seed uint32) ([]*tailTxn, uint64, int64) {
	var out []*tailTxn
	var gen uint64
	off := 0
	for len(data)-off >= walHeader {
		n := binary.LittleEndian.Uint32(data[off:])
		sum := binary.LittleEndian.Uint32(data[off+4:])
		g := binary.LittleEndian.Uint64(data[off+8:])
		if n == 0 || uint64(len(data)-off-walHeader) < uint64(n) {
			break
		}
		if off == 0 {
			gen = g
		} else if g != gen {
			break
		}
		body := data[off+8 : off+walHeader+int(n)]
		if crc32.Update(seed, crcTable, body) != sum {
			break
		}
		t, err := decodeWALTxn(body[8:])
		if err != nil || len(out) > 0 && t.prev != out[len(out)-1].info.TID {
			// A frame that does not follow the one before it is an older
			// generation's that happens to line up.
			break
		}
		out = append(out, t)
		off += walHeader + int(n)
	}
	return out, gen, int64(off)
}

// logSeed is the checksum of a log id, where every frame's checksum
// starts.
func logSeed(id []byte) uint32 { return crc32.Checksum(id, crcTable) }

// appendWALFrame appends t's frame under generation gen to b.
func appendWALFrame(b []byte, seed uint32, gen uint64, t *tailTxn) []byte {
	v := encodeTxn(&t.info)
	// Sized first and the records written in place: a frame grown by
	// appends, with each record encoded on its own, took about five times
	// a large transaction's size in memory (a 50 MB file uploaded into
	// Zope held 280 MB).
	size := walHeader + 16 + 2*binary.MaxVarintLen64 + len(v)
	for i := range t.records {
		size += 8 + binary.MaxVarintLen64 + recordSize(&t.records[i])
	}
	b = slices.Grow(b, size)
	start := len(b)
	b = append(b, make([]byte, walHeader)...)
	b = append(b, t.info.TID[:]...)
	b = append(b, t.prev[:]...)
	b = binary.AppendUvarint(b, uint64(len(v)))
	b = append(b, v...)
	b = binary.AppendUvarint(b, uint64(len(t.records)))
	for i := range t.records {
		r := &t.records[i]
		b = append(b, r.OID[:]...)
		b = binary.AppendUvarint(b, uint64(recordSize(r)))
		b = appendRecord(b, r)
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start-walHeader))
	binary.LittleEndian.PutUint64(b[start+8:], gen)
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Update(seed, crcTable, b[start+8:]))
	return b
}

// decodeWALTxn decodes one frame's payload.
func decodeWALTxn(p []byte) (*tailTxn, error) {
	if len(p) < 16 {
		return nil, errWALFrame
	}
	var tid, prev TID
	copy(tid[:], p)
	copy(prev[:], p[8:])
	p = p[16:]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return nil, false
		}
		v := p[k : k+int(n)]
		p = p[k+int(n):]
		return v, true
	}
	v, ok := field()
	if !ok {
		return nil, errWALFrame
	}
	info, err := decodeTxn(tid, v)
	if err != nil {
		return nil, errWALFrame
	}
	count, k := binary.Uvarint(p)
	if k <= 0 || count > uint64(len(p)) {
		return nil, errWALFrame
	}
	p = p[k:]
	t := &tailTxn{info: info, prev: prev, records: make([]Record, 0, count)}
	for range count {
		if len(p) < 8 {
			return nil, errWALFrame
		}
		key := recordKey(OID(p[:8]), tid)
		p = p[8:]
		v, ok := field()
		if !ok || len(v) == 0 {
			return nil, errWALFrame
		}
		t.records = append(t.records, decodeRecord(key, v))
	}
	if len(p) != 0 {
		return nil, errWALFrame
	}
	return t, nil
}

// openWAL opens (creating) both log files for writing, empties them, and
// starts a new generation after gen in file 0. The caller has put
// everything the files held into the bbolt file. Emptying them (durably)
// means no frame of an earlier run can line up behind a new one.
func openWAL(path string, seed uint32, gen uint64, noSync bool) (*wal, error) {
	w := &wal{seed: seed, noSync: noSync}
	for i, p := range walPaths(path) {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("objectstore: open commit log: %w", err)
		}
		w.files[i] = &walFile{f: f}
		err = f.Truncate(0)
		if err == nil && !noSync {
			err = fdatasync(f)
		}
		if err != nil {
			w.close()
			return nil, fmt.Errorf("objectstore: empty commit log: %w", err)
		}
	}
	if !noSync {
		if err := syncDir(filepath.Dir(path)); err != nil {
			w.close()
			return nil, err
		}
	}
	w.files[0].gen = gen + 1
	return w, nil
}

// syncDir fsyncs a folder, so that files created in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("objectstore: sync %s: %w", dir, err)
	}
	return nil
}

// append writes the transactions' frames to the active file in one write
// and makes them durable.
func (w *wal) append(txns []*tailTxn) error {
	a := w.files[w.active]
	w.buf = w.buf[:0]
	for _, t := range txns {
		w.buf = appendWALFrame(w.buf, w.seed, a.gen, t)
	}
	if _, err := a.f.WriteAt(w.buf, a.size); err != nil {
		return fmt.Errorf("objectstore: write commit log: %w", err)
	}
	if !w.noSync {
		if err := fdatasync(a.f); err != nil {
			return fmt.Errorf("objectstore: sync commit log: %w", err)
		}
	}
	a.size += int64(len(w.buf))
	if cap(w.buf) > 1<<20 {
		w.buf = nil
	}
	return nil
}

// switchFile makes the other file active under the next generation. The
// caller has checkpointed everything that file held.
func (w *wal) switchFile() {
	old := w.files[w.active]
	w.active ^= 1
	next := w.files[w.active]
	next.gen, next.size = old.gen+1, 0
}

// release shrinks the inactive file once its transactions are in the
// bbolt file, if it grew large.
func (w *wal) release() error {
	f := w.files[w.active^1]
	if st, err := f.f.Stat(); err == nil && st.Size() > walShrink {
		return f.f.Truncate(0)
	}
	return nil
}

// empty truncates both files: everything they held is in the bbolt
// file.
func (w *wal) empty() error {
	var errs []error
	for _, f := range w.files {
		errs = append(errs, f.f.Truncate(0))
		f.size = 0
	}
	return errors.Join(errs...)
}

// bytes returns the bytes written to the active file since the switch.
func (w *wal) bytes() int64 { return w.files[w.active].size }

func (w *wal) close() error {
	var errs []error
	for _, f := range w.files {
		if f != nil {
			errs = append(errs, f.f.Close())
		}
	}
	return errors.Join(errs...)
}

// fdatasync flushes a file's data (and the size, if it grew), not its
// times.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
