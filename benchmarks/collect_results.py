"""Assemble benchmarks/RESULTS.md from the sections each benchmark script writes to
benchmarks/results/<name>.md (in the order below; unknown sections last). Sections that another
section already contains (``les.md`` is rebuilt from the Taylor-Green and HIT sections by
``les_report.py``) and supplementary runs that a section or a docs page points to are left out;
top-level headings are demoted under the page's own.

    python benchmarks/collect_results.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
ORDER = ["fno_navier_stokes", "gpu_check", "mg_tfno", "lsm", "lsm_step_time", "les", "ifactformer", "dcdm", "um2n",
         "gp_spectral", "insr", "enf2enf"]
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


def main() -> None:
    sections = {p.stem: demote(p.read_text().strip()) for p in (HERE / "results").glob("*.md")}
    sections = {name: text for name, text in sections.items() if CONTAINED.get(name) not in sections}
    names = [n for n in ORDER if n in sections] + sorted(set(sections) - set(ORDER))
    body = "\n\n".join(sections[n] for n in names)
    (HERE / "RESULTS.md").write_text(HEADER + body + "\n")
    print(f"wrote {HERE / 'RESULTS.md'} with {len(names)} sections: {', '.join(names)}")


if __name__ == "__main__":
    main()
