"""Make the Storage emulator startable offline: its rules runtime, built over the gcloud package's rules engine.

firebase-tools' Storage emulator evaluates ``storage.rules`` in a Java program it downloads
(``cloud-storage-rules-runtime-v<version>.jar``), which it only looks for by name in
``$FIREBASE_EMULATORS_PATH`` and runs with ``java -jar``. That download fails on a machine without
internet. The Firestore emulator jar of the Google Cloud CLI Debian package carries the same rules
compiler and evaluator, so ``scripts/storage_rules/StorageRulesRuntime.java`` speaks the emulator's
protocol over them; this script compiles it with the machine's ``javac`` into a jar of that name (its
manifest names the gcloud jar as class path), rebuilt when the source changes. Where the gcloud jar is
absent (a laptop with internet), nothing is written and the CLI downloads the real runtime.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from firestore_launcher import GCLOUD_JAR

SOURCE = Path(__file__).resolve().parent / "storage_rules" / "StorageRulesRuntime.java"
MAIN_CLASS = "StorageRulesRuntime"


def manifest() -> str:
    lines = ["Manifest-Version: 1.0", f"Main-Class: {MAIN_CLASS}", f"Class-Path: file:{GCLOUD_JAR}"]
    return "\r\n".join(lines) + "\r\n\r\n"


def build(jar: Path, javac: str) -> None:
    """Compile the runtime against the gcloud jar and pack it with its manifest into ``jar``."""
    with tempfile.TemporaryDirectory() as scratch:
        classes = Path(scratch) / "classes"
        # -proc:none: the gcloud jar declares an annotation processor it does not ship.
        command = [javac, "-proc:none", "-nowarn", "--release", "17", "-cp", str(GCLOUD_JAR)]
        command += ["-d", str(classes), str(SOURCE)]
        subprocess.run(command, check=True, capture_output=True)
        partial = jar.with_suffix(".tmp")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("META-INF/MANIFEST.MF", manifest())
            for item in sorted(classes.rglob("*.class")):
                archive.write(item, item.relative_to(classes).as_posix())
        partial.replace(jar)


def main(root: Path) -> int:
    if not GCLOUD_JAR.is_file():
        return 0
    javac = shutil.which("javac")
    if javac is None:
        print("setup: javac is missing (Debian: openjdk-17-jdk-headless); the Storage emulator cannot start offline")
        return 1
    info = root / "node_modules" / "firebase-tools" / "lib" / "emulator" / "downloadableEmulatorInfo.json"
    version = json.loads(info.read_text())["storage"]["version"]
    target_dir = root / ".cache" / "emulators"
    jar = target_dir / f"cloud-storage-rules-runtime-v{version}.jar"
    stamp = root / ".cache" / "stamps" / "storage-rules-runtime"
    digest = hashlib.sha256(SOURCE.read_bytes() + str(GCLOUD_JAR.stat().st_size).encode()).hexdigest()[:16]
    if jar.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return 0
    target_dir.mkdir(parents=True, exist_ok=True)
    build(jar, javac)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest)
    print(f"setup: built the Storage rules runtime {jar.name} over the gcloud rules engine")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
