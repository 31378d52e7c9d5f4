"""Assemble benchmarks/RESULTS.md from the sections each benchmark script writes to
benchmarks/results/<name>.md (in the order below; unknown sections last).

    python benchmarks/collect_results.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
ORDER = ["fno_navier_stokes", "gpu_check", "mg_tfno", "lsm", "les", "taylor_green", "hit_les", "hit_les_cost_cpu",
         "ifactformer", "dcdm", "um2n", "gp_spectral", "insr", "enf2enf"]
HEADER = """# Benchmark results

Every figure below was produced by a script in `benchmarks/` (the command is given with each
table) and is stored as JSON beside its section in `benchmarks/results/`. Unless a section says
otherwise the machine is the project's shared 2-core x86-64 box (24 GiB, no GPU), with the torch
thread count stated; wall times were taken while other jobs shared the box, so treat them as
upper bounds and compare methods only within one table. GPU figures name the card.

"""


def main() -> None:
    sections = {p.stem: p.read_text().strip() for p in (HERE / "results").glob("*.md")}
    names = [n for n in ORDER if n in sections] + sorted(set(sections) - set(ORDER))
    body = "\n\n".join(sections[n] for n in names)
    (HERE / "RESULTS.md").write_text(HEADER + body + "\n")
    print(f"wrote {HERE / 'RESULTS.md'} with {len(names)} sections: {', '.join(names)}")


if __name__ == "__main__":
    main()
