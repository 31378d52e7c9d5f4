"""Assemble benchmarks/RESULTS.md from the sections each benchmark script writes to
benchmarks/results/<name>.md (in the order below; unknown sections last). Sections that another
section already contains (``les.md`` is rebuilt from the Taylor-Green and HIT sections by
``les_report.py``) and supplementary runs that a section or a docs page points to are left out;
top-level headings are demoted under the page's own.

    python benchmarks/collect_results.py
    python benchmarks/collect_results.py --smoke --out DIR    # DIR/RESULTS.md from the same sections
"""

from __future__ import annotations

import argparse
from pathlib import Path

import harness

HERE = Path(__file__).parent
ORDER = ["fno_navier_stokes", "gpu_check", "mg_tfno", "lsm", "lsm_step_time", "les", "channel", "channel_compare",
         "ifactformer", "dcdm", "dcdm_paper", "dcdm_geometries_mask", "dcdm_geometries_sizes",
         "um2n", "gp_spectral", "insr", "enf2enf",
         "enf2enf_zero_code", "enf2enf_schedule", "enf2enf_schedule_gpu", "distributed"]
CONTAINED = {"taylor_green": "les", "hit_les": "les", "hit_les_cost_cpu": "les",
             "enf2enf_short": "enf2enf"}  # the shorter enf2enf training, cited in docs/backends/enf2enf.md
HEADER = """# Benchmark results

Every figure below was produced by a script in `benchmarks/` (the command is given with each
table) and is stored as JSON beside its section in `benchmarks/results/`. Unless a section says
otherwise the machine is the project's shared 2-core x86-64 box (24 GiB, no GPU), with the torch
thread count stated; wall times were taken while other jobs shared the box, so treat them as
upper bounds and compare methods only within one table. GPU figures name the card.

"""


def demote(text: str) -> str:
    """One heading level down throughout, if the section starts at level 1."""
    if not text.startswith("# "):
        return text
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def assemble(results: Path) -> str:
    """The page from the sections ``results/*.md``."""
    sections = {p.stem: demote(p.read_text().strip()) for p in results.glob("*.md")}
    sections = {name: text for name, text in sections.items() if CONTAINED.get(name) not in sections}
    names = [n for n in ORDER if n in sections] + sorted(set(sections) - set(ORDER))
    return HEADER + "\n\n".join(sections[n] for n in names) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=harness.RESULTS, help="folder of the sections")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder of RESULTS.md (default benchmarks/; with --smoke a temporary folder)")
    parser.add_argument("--smoke", action="store_true", help="write RESULTS.md into --out, not benchmarks/")
    args = parser.parse_args(argv)
    out = harness.output(args, "collect_results") if args.smoke or args.out else HERE
    path = harness.write_text(out / "RESULTS.md", assemble(args.results))
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
