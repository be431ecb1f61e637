package zeo

// Pickle opcodes, named as in CPython's Lib/pickle.py. Only those the
// decoder knows are listed; see the package documentation for the rest.
const (
	opMARK           = '('
	opSTOP           = '.'
	opPOP            = '0'
	opPOP_MARK       = '1'
	opDUP            = '2'
	opFLOAT          = 'F'
	opINT            = 'I'
	opBININT         = 'J'
	opBININT1        = 'K'
	opLONG           = 'L'
	opBININT2        = 'M'
	opNONE           = 'N'
	opREDUCE         = 'R'
	opBINSTRING      = 'T'
	opSHORT_BINSTR   = 'U'
	opAPPEND         = 'a'
	opBUILD          = 'b'
	opGLOBAL         = 'c'
	opDICT           = 'd'
	opEMPTY_DICT     = '}'
	opAPPENDS        = 'e'
	opGET            = 'g'
	opBINGET         = 'h'
	opINST           = 'i'
	opLONG_BINGET    = 'j'
	opLIST           = 'l'
	opEMPTY_LIST     = ']'
	opOBJ            = 'o'
	opPUT            = 'p'
	opBINPUT         = 'q'
	opLONG_BINPUT    = 'r'
	opSETITEM        = 's'
	opTUPLE          = 't'
	opEMPTY_TUPLE    = ')'
	opSETITEMS       = 'u'
	opBINFLOAT       = 'G'
	opBINUNICODE     = 'X'
	opPROTO          = 0x80
	opNEWOBJ         = 0x81
	opTUPLE1         = 0x85
	opTUPLE2         = 0x86
	opTUPLE3         = 0x87
	opNEWTRUE        = 0x88
	opNEWFALSE       = 0x89
	opLONG1          = 0x8a
	opLONG4          = 0x8b
	opBINBYTES       = 'B'
	opSHORT_BINBYTES = 'C'
	opSHORT_BINUNI   = 0x8c
	opBINUNICODE8    = 0x8d
	opBINBYTES8      = 0x8e
	opSTACK_GLOBAL   = 0x93
	opMEMOIZE        = 0x94
	opFRAME          = 0x95
)

// highestProtocol is the newest pickle protocol PROTO may announce.
const highestProtocol = 5

// batchSize is how many items Python's pickler puts in one APPENDS or
// SETITEMS (pickle._BATCHSIZE); matching it keeps our output byte for byte
// equal to ZEO's.
const batchSize = 1000
