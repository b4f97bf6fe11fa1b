import sys

from tests.pibox.session import main

sys.exit(main(sys.argv[1:]))
