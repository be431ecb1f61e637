"""What the small client scripts share: the server's address from
$ZEO_ADDR, and a tally of checks that ends the script with its summary
line and exit status."""
import os
import sys


def zeo_addr():
    host, _, port = os.environ["ZEO_ADDR"].rpartition(":")
    return (host, int(port))


class Tally:
    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, what, ok):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL", what)

    def exit(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
