package zeo

import (
	"errors"
	"strconv"
)

// stepContainer runs the opcodes that build tuples, lists and dicts.
func (u *unpickler) stepContainer(op byte) (bool, error) {
	switch op {
	case opEMPTY_TUPLE:
		return true, u.push(Tuple{})
	case opTUPLE1, opTUPLE2, opTUPLE3:
		items, err := u.popN(int(op-opTUPLE1) + 1)
		return true, u.pushOr(Tuple(items), err)
	case opTUPLE:
		items, err := u.popMark()
		return true, u.pushOr(Tuple(items), err)
	case opEMPTY_LIST:
		return true, u.push(&List{})
	case opLIST:
		items, err := u.popMark()
		return true, u.pushOr(&List{Items: items}, err)
	case opEMPTY_DICT:
		return true, u.push(&Dict{})
	case opDICT:
		items, err := u.popMark()
		if err != nil {
			return true, err
		}
		d := &Dict{}
		if err := u.setItems(d, items); err != nil {
			return true, err
		}
		return true, u.push(d)
	case opAPPEND, opAPPENDS, opSETITEM, opSETITEMS:
		return true, u.addItems(op)
	}
	return false, nil
}

// addItems runs APPEND(S) and SETITEM(S), which add to the value below
// their operands: a list or dict, or an object (a list or dict subclass
// rebuilt by __reduce_ex__).
func (u *unpickler) addItems(op byte) error {
	var items []any
	var err error
	switch op {
	case opAPPEND:
		items, err = u.popN(1)
	case opSETITEM:
		items, err = u.popN(2)
	default:
		items, err = u.popMark()
	}
	if err != nil {
		return err
	}
	target, err := u.top()
	if err != nil {
		return err
	}
	if op == opAPPEND || op == opAPPENDS {
		return u.appendItems(target, items)
	}
	return u.setItems(target, items)
}

func (u *unpickler) appendItems(target any, items []any) error {
	switch t := target.(type) {
	case *List:
		t.Items = append(t.Items, items...)
	case *Object:
		t.ListItems = append(t.ListItems, items...)
	default:
		return u.fail(ErrMalformed, "cannot append to a %s", typeName(target))
	}
	return nil
}

// setItems sets key/value pairs on a dict, or on an object's dict items.
func (u *unpickler) setItems(target any, items []any) error {
	if len(items)%2 != 0 {
		return u.fail(ErrMalformed, "odd number of dict items")
	}
	var d *Dict
	switch t := target.(type) {
	case *Dict:
		d = t
	case *Object:
		if t.DictItems == nil && len(items) > 0 {
			t.DictItems = &Dict{}
		}
		d = t.DictItems
	default:
		return u.fail(ErrMalformed, "cannot set items on a %s", typeName(target))
	}
	for i := 0; i < len(items); i += 2 {
		h, err := appendKey(nil, items[i], &u.keyBudget)
		if err != nil {
			return u.fail(errKind(err), "dict key: %v", err)
		}
		d.setHashed(string(h), items[i], items[i+1])
	}
	return nil
}

// errKind returns the sentinel inside an error from appendKey.
func errKind(err error) error {
	for _, kind := range []error{ErrUnhashable, ErrLimit} {
		if errors.Is(err, kind) {
			return kind
		}
	}
	return ErrMalformed
}

// stepMemo runs the memo opcodes.
func (u *unpickler) stepMemo(op byte) (bool, error) {
	switch op {
	case opBINPUT:
		i, err := u.uint(1)
		return true, u.memoPut(int64(i), err)
	case opLONG_BINPUT:
		i, err := u.uint(4)
		return true, u.memoPut(int64(i), err)
	case opPUT:
		i, err := u.textIndex()
		return true, u.memoPut(i, err)
	case opMEMOIZE:
		return true, u.memoPut(int64(len(u.memo)), nil)
	case opBINGET:
		i, err := u.uint(1)
		return true, u.memoGet(int64(i), err)
	case opLONG_BINGET:
		i, err := u.uint(4)
		return true, u.memoGet(int64(i), err)
	case opGET:
		i, err := u.textIndex()
		return true, u.memoGet(i, err)
	}
	return false, nil
}

func (u *unpickler) textIndex() (int64, error) {
	ln, err := u.line()
	if err != nil {
		return 0, err
	}
	i, perr := strconv.ParseInt(string(ln), 10, 64)
	if perr != nil || i < 0 {
		return 0, u.fail(ErrMalformed, "bad memo index %q", ln)
	}
	return i, nil
}

func (u *unpickler) memoPut(i int64, err error) error {
	if err != nil {
		return err
	}
	v, err := u.top()
	if err != nil {
		return err
	}
	if u.memo == nil {
		u.memo = make(map[int64]any)
	}
	if _, ok := u.memo[i]; !ok && len(u.memo) >= u.lim.MaxMemo {
		return u.fail(ErrLimit, "more than %d memo entries", u.lim.MaxMemo)
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) memoGet(i int64, err error) error {
	if err != nil {
		return err
	}
	v, ok := u.memo[i]
	if !ok {
		return u.fail(ErrMalformed, "memo index %d not set", i)
	}
	return u.push(v)
}

// stepObject runs the opcodes that name globals and build objects.
func (u *unpickler) stepObject(op byte) (bool, error) {
	switch op {
	case opGLOBAL:
		g, err := u.globalLines()
		return true, u.pushOr(g, err)
	case opSTACK_GLOBAL:
		return true, u.stackGlobal()
	case opREDUCE, opNEWOBJ:
		return true, u.call(op == opNEWOBJ)
	case opOBJ:
		items, err := u.popMark()
		if err == nil && len(items) == 0 {
			err = u.fail(ErrMalformed, "OBJ without a class")
		}
		if err != nil {
			return true, err
		}
		return true, u.push(&Object{Class: items[0], Args: Tuple(items[1:])})
	case opINST:
		g, err := u.globalLines()
		if err != nil {
			return true, err
		}
		items, err := u.popMark()
		return true, u.pushOr(&Object{Class: g, Args: Tuple(items)}, err)
	case opBUILD:
		return true, u.build()
	}
	return false, nil
}

func (u *unpickler) globalLines() (Global, error) {
	mod, err := u.line()
	if err != nil {
		return Global{}, err
	}
	name, err := u.line()
	if err != nil {
		return Global{}, err
	}
	return Global{Module: string(mod), Name: string(name)}, nil
}

func (u *unpickler) stackGlobal() error {
	items, err := u.popN(2)
	if err != nil {
		return err
	}
	mod, ok1 := items[0].(string)
	name, ok2 := items[1].(string)
	if !ok1 || !ok2 {
		return u.fail(ErrMalformed, "STACK_GLOBAL needs two str, got %s and %s",
			typeName(items[0]), typeName(items[1]))
	}
	g := Global{Module: mod, Name: name}
	if !validGlobal(g) {
		return u.fail(ErrUnsupported, "global name with a newline or over %d bytes", maxLine)
	}
	return u.push(g)
}

// call runs REDUCE (callable, args) and NEWOBJ (class, args). Like
// CPython's C unpickler, both need args to be a tuple.
func (u *unpickler) call(isNew bool) error {
	items, err := u.popN(2)
	if err != nil {
		return err
	}
	args, ok := items[1].(Tuple)
	if !ok {
		return u.fail(ErrMalformed, "arguments are a %s, not a tuple", typeName(items[1]))
	}
	return u.push(&Object{Class: items[0], Args: args, New: isNew})
}

// build runs BUILD. A second BUILD on one object replaces its state.
func (u *unpickler) build() error {
	state, err := u.pop()
	if err != nil {
		return err
	}
	target, err := u.top()
	if err != nil {
		return err
	}
	obj, ok := target.(*Object)
	if !ok {
		return u.fail(ErrMalformed, "BUILD on a %s", typeName(target))
	}
	obj.State = state
	return nil
}
