"""lmnotes.claims: every rule gives each verdict it can give, and a claim that cannot fail is refused."""

import json

import pytest

from lmnotes import claims
from lmnotes.claims import Claim, Ledger


def verdict(rule, value, reference, **kw):
    if not {"se", "difference_se", "no_se"} & set(kw):
        kw["exact"] = True
    if "se" in kw:
        kw.setdefault("over", "3 seeds")
    return Claim("1.2", "a claim", rule, value, reference, "a baseline", **kw).verdict


def test_higher_and_lower_give_every_verdict():
    # 2 SE of the difference: 2 * sqrt(0.02^2 + 0.02^2) = 0.057
    assert verdict("higher", 0.9, 0.7, se=0.02, reference_se=0.02) == "shown"
    assert verdict("higher", 0.72, 0.7, se=0.02, reference_se=0.02) == "not separated"
    assert verdict("higher", 0.5, 0.7, se=0.02, reference_se=0.02) == "opposite"
    assert verdict("higher", 0.7, 0.7) == "not shown"  # exact and equal: no gain
    assert verdict("lower", 1.0, 2.0, no_se="one timed run", margin=0.5) == "shown"
    assert verdict("lower", 2.5, 2.0, no_se="one timed run", margin=0.5) == "opposite"
    assert verdict("lower", 1.8, 2.0, no_se="one timed run", margin=0.5) == "not shown"  # below the margin
    assert verdict("lower", 1.99, 2.0, se=0.1) == "not separated"


def test_a_margin_must_be_cleared_beyond_the_noise_and_is_printed():
    assert verdict("higher", 0.75, 0.7, se=0.01, margin=0.1) == "not shown"  # surely below 0.1 above
    assert verdict("higher", 0.15, 0.0, se=0.05, margin=0.1) == "not separated"  # 0.05-0.25 straddles 0.1
    assert verdict("higher", 0.35, 0.0, se=0.05, margin=0.1) == "shown"  # 0.25-0.45 clears it
    c = Claim("1.2", "a claim", "higher", 0.8, 0.75, "base", se=0.01, over="3 seeds", margin=0.1)
    assert c.comparison() == "> 0.75 + 0.1 (base)" and c.verdict == "not shown"


def test_paired_differences_use_their_own_standard_error():
    # the same 3 seeds: the paired SE of the difference (0.004) separates what independent SEs would not
    assert verdict("higher", 0.72, 0.70, se=0.02, reference_se=0.02) == "not separated"
    assert verdict("higher", 0.72, 0.70, difference_se=0.004) == "shown"


def test_targets_and_equalities_can_fail():
    assert verdict("at least", 0.95, 0.9, se=0.01) == "shown"
    assert verdict("at least", 0.85, 0.9, se=0.01) == "not shown"
    assert verdict("at least", 0.89, 0.9, se=0.01) == "not separated"
    assert verdict("at most", 0.05, 0.1) == "shown"
    assert verdict("at most", 0.2, 0.1) == "not shown"
    assert verdict("at most", 0.11, 0.1, se=0.01) == "not separated"
    assert verdict("within", 1.0 + 1e-7, 1.0, margin=1e-6) == "shown"
    assert verdict("within", 1.001, 1.0, margin=1e-6) == "not shown"
    assert verdict("within", 1.0, 1.0) == "shown"


def test_a_claim_that_cannot_fail_or_has_no_uncertainty_is_refused():
    ok = dict(section="2.3", claim="faster", rule="higher", value=3.3, reference=1.0, compared_with="no cache",
              no_se="one timed run", margin=0.5)
    Claim(**ok)
    for change, match in [(dict(reference=None), "reference"),
                          (dict(no_se=None), "exactly one of se"),  # nothing said about the uncertainty
                          (dict(no_se=None, reference_se=0.1), "exactly one of se"),  # only the reference's
                          (dict(se=0.1, over="3 seeds"), "exactly one of se"),  # se and no_se contradict
                          (dict(no_se=None, se=0.1), "over"),
                          (dict(no_se=None, se=0.0, over="3 seeds"), "se"),
                          (dict(margin=0.0), "margin"),  # one noisy run with no margin: the verdict is noise
                          (dict(rule="better"), "rule"),
                          (dict(section="two"), "section"),
                          (dict(section="1.2\n"), "section"),
                          (dict(claim="two\nlines"), "claim"),
                          (dict(claim="  "), "claim"),
                          (dict(value=float("nan")), "value"),
                          (dict(rule="at least"), "margin"),  # a margin with a target means nothing
                          (dict(rule="within", no_se=None, se=0.1, over="3 seeds", margin=0.0), "within")]:
        with pytest.raises(ValueError, match=match):
            Claim(**{**ok, **change})
    with pytest.raises(TypeError, match="claim"):
        Claim(**{**ok, "claim": None})
    with pytest.raises(TypeError, match="section"):
        Claim(**{**ok, "section": 2.3})


def test_figures_are_printed_with_enough_digits_to_tell_them_apart():
    close = Claim("1.2", "a claim", "higher", 0.70004, 0.7, "base", exact=True)
    assert close.verdict == "shown" and close.figure() == "0.70004" and close.comparison() == "> 0.7 (base)"
    timed = Claim("2.3.2", "the cache is faster", "higher", 4.6, 1.0, "no cache", no_se="one timed run",
                  margin=0.5, unit="x", varies=True)
    assert timed.line() == "[shown] §2.3.2 the cache is faster: ⟨4.6 x⟩ > 1 x + 0.5 (no cache); no SE: one timed run"


def test_the_ledger_prints_a_line_per_claim_and_builds_the_closing_table(capsys):
    ledger = Ledger("99")
    ledger.record("2.3.2", "the KV cache speeds up decoding", 3.3, 1.0, rule="higher", compared_with="no cache",
                  no_se="one timed run", margin=0.5, unit="x", headline=True)
    ledger.record("1.4", "fine-tuning beats a bag of words", 0.70, 0.75, rule="higher", compared_with="bag of words",
                  se=0.01, reference_se=0.01, over="5 seeds")
    ledger.record("3.1", "8 shots reach the ceiling", 0.99, 0.99, rule="at least", compared_with="ceiling", exact=True)
    ledger.record("1.4", "fine-tuning beats a bag of words", 0.80, 0.75, rule="higher", compared_with="bag of words",
                  se=0.01, reference_se=0.01, over="5 seeds")  # re-running a cell replaces its claim in place
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == ("[shown] §2.3.2 the KV cache speeds up decoding [headline]: 3.3 x > 1 x + 0.5 (no cache); "
                          "no SE: one timed run")
    assert printed[1].startswith("[opposite] §1.4") and printed[3].startswith("[shown] §1.4")
    assert [c.section for c in ledger.claims] == ["2.3.2", "1.4", "3.1"]
    assert ledger.totals() == {"shown": 3, "not shown": 0, "not separated": 0, "opposite": 0}
    data, metadata = ledger.table()._repr_mimebundle_()
    assert set(data) == {"text/plain", "text/markdown"}  # the figures as data go in metadata, never compared
    assert [c["verdict"] for c in metadata[claims.MIME_TYPE]["claims"]] == ["shown", "shown", "shown"]
    assert ("| 1.4 | fine-tuning beats a bag of words | 0.8 ± 0.01 (5 seeds) | > 0.75 ± 0.01 (bag of words) | "
            "**shown** |") in data["text/markdown"]
    assert data["text/plain"].endswith("3 claims: 3 shown, 0 not shown, 0 not separated, 0 opposite "
                                       "(1 of the book's headline claims)")
    with pytest.raises(TypeError, match="quiet"):
        ledger.record("1.5", "x", 1.0, 0.0, rule="higher", compared_with="y", exact=True, quiet="no")
    assert len(ledger.claims) == 3
    with pytest.raises(ValueError, match="no claims"):
        Ledger("98").table()


def _notebook(path, *tables):
    outputs = [{"output_type": "display_data", "data": data, "metadata": metadata} for data, metadata in tables]
    cell = {"cell_type": "code", "metadata": {}, "source": "", "execution_count": 1, "outputs": outputs}
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_the_course_report_reads_the_stored_tables_by_chapter_and_flags_stale_verdicts(tmp_path, capsys):
    ledger = Ledger("07")
    ledger.record("2.3.2", "the KV cache speeds up decoding", 3.3, 1.0, rule="higher", compared_with="no cache",
                  no_se="one timed run", margin=0.5, headline=True, quiet=True)
    ledger.record("2.3.6", "retrieval holds past the trained length", 0.4, 0.9, rule="at least",
                  compared_with="target", se=0.05, over="40 documents", quiet=True)
    ledger.record("1.1", "a chapter-1 claim", 2.0, 1.0, rule="higher", compared_with="base", exact=True, quiet=True)
    table = ledger.table()._repr_mimebundle_()
    _notebook(tmp_path / "07_long.ipynb", table)
    _notebook(tmp_path / "08_icl.ipynb")
    found = claims.collect(tmp_path)
    assert [row["verdict"] for row in found["07_long.ipynb"]] == ["shown", "not shown", "shown"]
    assert found["08_icl.ipynb"] == []
    assert claims.main([str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Chapter 1: 1 claims: 1 shown, 0 not shown, 0 not separated, 0 opposite (0 of the book's headline claims)"
    assert lines[2] == "Chapter 2: 2 claims: 1 shown, 1 not shown, 0 not separated, 0 opposite (1 of the book's headline claims)"
    assert lines[3].startswith("  07 [shown] §2.3.2 the KV cache speeds up decoding [headline]")
    assert lines[-1] == "notebooks without a claims ledger yet: 08_icl.ipynb"
    # a stored verdict that its own figures no longer give (a rule changed, or a tampered output) is flagged
    table[1][claims.MIME_TYPE]["claims"][0]["verdict"] = "opposite"
    _notebook(tmp_path / "07_long.ipynb", table)
    assert claims.main([str(tmp_path)]) == 1
    assert "stale verdicts (re-execute the notebook): 07_long.ipynb: §2.3.2" in capsys.readouterr().out
    page = claims.markdown_report(found)
    assert "**The course: 3 claims: 2 shown, 1 not shown, 0 not separated, 0 opposite" in page
    assert page.index("## Chapter 1") < page.index("## Chapter 2") < page.index("## Not yet on the ledger")
    assert "| 07_long | 2.3.2 | the KV cache speeds up decoding (headline) |" in page
    assert "hand-written summary: `08_icl`." in page
    _notebook(tmp_path / "07_long.ipynb", table, table)
    with pytest.raises(ValueError, match="2 claims tables"):
        claims.collect(tmp_path)
    with pytest.raises(ValueError, match="folder"):
        claims.collect(tmp_path / "nowhere")


def test_the_readme_totals_are_the_committed_notebooks(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = claims.collect(root / "notebooks")
    readme = (root / "README.md").read_text()
    assert claims.with_readme_totals(readme, found) == readme, "run ./course claims --readme README.md"
    assert "00_start_here.ipynb" not in found  # it measures nothing (MEASURES_NOTHING)


def test_readme_totals_are_rewritten_between_the_markers_only():
    ledger = Ledger("07")
    ledger.record("2.3.2", "the KV cache speeds up decoding", 3.3, 1.0, rule="higher", compared_with="no cache",
                  no_se="one timed run", margin=0.5, quiet=True)
    found = {"07_long.ipynb": [dict(c.to_dict(), notebook="07_long.ipynb") for c in ledger.claims],
             "08_icl.ipynb": []}
    start, end = claims.README_MARKERS
    readme = f"intro\n{start}\nold totals\n{end}\noutro\n"
    written = claims.with_readme_totals(readme, found)
    assert written.startswith(f"intro\n{start}\n**The course: 1 claims: 1 shown,") and written.endswith(f"{end}\noutro\n")
    assert "- Chapter 2: 1 claims: 1 shown" in written and "- Not yet on the ledger: 08_icl" in written
    assert claims.with_readme_totals(written, found) == written
    with pytest.raises(ValueError, match="marker"):
        claims.with_readme_totals("no markers here", found)


def test_standard_errors_over_a_few_seeds_use_students_t():
    stats = pytest.importorskip("scipy.stats")  # the oracle: in the course environment, not in Colab's test one

    for df in (1, 2, 4, 9, 29, 30, 31, 60, 200):
        assert claims.t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=2e-4)
    assert claims.multiplier("3 seeds") == claims.t975(2) == pytest.approx(4.303, abs=1e-3)
    assert claims.multiplier("5 seeds, paired") == pytest.approx(2.776, abs=1e-3)
    assert claims.multiplier("300 items") == claims.multiplier(None) == claims.Z
    for pooled in ("3 seeds x 300 items", "3 seeds × 300 items", "5 seeds and 300 items"):
        assert claims.multiplier(pooled) == claims.Z  # pooled over items: many values
    assert claims.multiplier("100 seeds") == claims.Z  # t(99) = 1.98 < 2: never below Z
    # +0.011 with a paired SE of 0.0041 is 2.7 SE: separated at z = 2, not by t with 2 degrees of freedom
    assert verdict("higher", 0.011, 0.0, difference_se=0.0041, over="30 items") == "shown"
    assert verdict("higher", 0.011, 0.0, difference_se=0.0041, over="3 seeds, paired") == "not separated"
    assert verdict("higher", 0.011, 0.0, difference_se=0.0041, over="10 seeds, paired") == "shown"
    # a mean over 3 seeds against a figure over 300 reviews: Welch-Satterthwaite's degrees of freedom
    se, ref = 0.020, 0.028
    df = (se ** 2 + ref ** 2) ** 2 / (se ** 4 / 2 + ref ** 4 / 299)
    assert claims.multiplier("3 seeds; probe: 300 reviews", se, ref) == pytest.approx(stats.t.ppf(0.975, int(df)),
                                                                                        abs=2e-4)
    assert 2 < claims.multiplier("3 seeds; probe: 300 reviews", se, ref) < claims.multiplier("3 seeds", se, ref)
    assert claims.multiplier("300 reviews; baseline: 3 seeds", None, ref) == claims.t975(2)
    with pytest.raises(ValueError, match="over"):
        claims.multiplier("1 seeds")
