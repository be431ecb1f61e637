"""Write the fuzz seed corpora from ../golden/golden.txt.

    python3 testdata/fuzz/seed.py

FuzzUnpickle gets every pickle (kinds Z and P), FuzzMsgpack every msgpack
message, FuzzReadFrame a few framed conversations. Files named crash-*
are regression seeds from fuzzing runs and are kept as they are.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, '..', 'golden', 'golden.txt')
MAX_SEED = 8192


def go_bytes(b):
    out = []
    for c in b:
        if 0x20 <= c < 0x7f and c not in (0x22, 0x5c):
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    return '[]byte("%s")' % ''.join(out)


def write(target, name, b):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-' + name), 'w') as f:
        f.write('go test fuzz v1\n' + go_bytes(b) + '\n')


def frame(b):
    return struct.pack('>I', len(b)) + b


lines = [l.split() for l in open(GOLDEN) if not l.startswith('#')]
for name, kind, hexdata in lines:
    b = bytes.fromhex(hexdata)
    if len(b) > MAX_SEED:
        continue
    target = 'FuzzMsgpack' if kind == 'M' else 'FuzzUnpickle'
    write(target, name + '-' + kind, b)

msgs = {(n, k): bytes.fromhex(h) for n, k, h in lines}
write('FuzzReadFrame', 'handshake', frame(b'Z5') + frame(b'Z5') +
      frame(msgs['register', 'Z']) + frame(msgs['heartbeat', 'Z']))
write('FuzzReadFrame', 'ruok', frame(b'ruok'))
write('FuzzReadFrame', 'empty-frame', frame(b''))
write('FuzzReadFrame', 'oversize', b'\xff\xff\xff\xff' + b'x' * 8)
write('FuzzReadFrame', 'truncated', b'\x00\x00\x00\x09abc')
write('FuzzReadFrame', 'storea', frame(msgs['storea', 'Z']) + frame(msgs['vote', 'Z']))

# Hand-made pickles for opcodes the golden messages do not use.
extra = {
    'memo': b'\x80\x03]q\x00(h\x00h\x00e.',
    'objects': b'\x80\x03cm\nC\n)\x81}q\x00X\x01\x00\x00\x00ah\x00sb.',
    'text': b'(I1\nL2L\nF0.5\np0\ng0\nlp1\n(im\nC\n.',
    'proto4': b'\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01m\x8c\x01C\x93\x94.',
}
for name, b in extra.items():
    write('FuzzUnpickle', name, b)
