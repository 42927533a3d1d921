from tests.docs.sql_reference import PAGE, render


def test_the_sql_reference_page_is_what_the_sql_files_and_a_store_give():
    expected = render()
    assert PAGE.exists(), "docs/reference/sql.md is missing: run python -m tests.docs.sql_reference"
    assert PAGE.read_text(encoding="utf-8") == expected, (
        "docs/reference/sql.md is out of date with sql/: run python -m tests.docs.sql_reference")
