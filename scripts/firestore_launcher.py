"""Make the Firestore emulator startable offline: a launcher jar over the gcloud package's emulator.

firebase-tools only checks that ``cloud-firestore-emulator-v<version>.jar`` exists in
``$FIREBASE_EMULATORS_PATH`` and runs ``java -jar`` on it. The gcloud jar has no Main-Class, so we
write a jar that holds only a manifest naming the main class and the gcloud jar as class path.
Where the gcloud jar is absent (a laptop with internet), nothing is written and the CLI downloads.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

GCLOUD_JAR = Path("/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"


def manifest() -> str:
    lines = ["Manifest-Version: 1.0", f"Main-Class: {MAIN_CLASS}", f"Class-Path: file:{GCLOUD_JAR}"]
    return "\r\n".join(lines) + "\r\n\r\n"


def main(root: Path) -> int:
    target_dir = root / ".cache" / "emulators"
    marker = root / ".cache" / "emulators-path"
    if not GCLOUD_JAR.is_file():
        marker.unlink(missing_ok=True)
        return 0
    info = root / "node_modules" / "firebase-tools" / "lib" / "emulator" / "downloadableEmulatorInfo.json"
    version = json.loads(info.read_text())["firestore"]["version"]
    jar = target_dir / f"cloud-firestore-emulator-v{version}.jar"
    if not jar.is_file():
        target_dir.mkdir(parents=True, exist_ok=True)
        partial = jar.with_suffix(".tmp")
        with zipfile.ZipFile(partial, "w") as archive:
            archive.writestr("META-INF/MANIFEST.MF", manifest())
        partial.replace(jar)
        print(f"setup: wrote Firestore launcher jar {jar.name} over the gcloud emulator")
    marker.write_text(f"{target_dir}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
