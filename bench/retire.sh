#!/bin/sh
# retire.sh GRAVE PATH...: moves each existing PATH into a new folder under GRAVE rather than
# deleting it, so that a timed run does not start just after thousands of inodes were freed.
# On ext4 without a journal (this project's bench machines), an inode freed in the last minute
# is skipped, after reading its inode table block, whenever a file or folder is made: deleting
# the previous run's home right before the next run made that run pay for the clean-up, more
# so the more files it makes. GRAVE goes with the work folder when the run ends.
set -eu
grave=$1
shift
mkdir -p "$grave"
for path in "$@"; do
    [ -e "$path" ] || [ -L "$path" ] || continue
    mv "$path" "$(mktemp -d "$grave/r.XXXXXX")/"
done
