"""sortbox: a Luigi pipeline that turns a table of short messages into per-class text classifiers."""
from setuptools import find_packages, setup

setup(
    name="sortbox",
    version="0.1.0",
    description="Luigi batch pipeline: messages table -> per-class text classifiers -> model JSON + scores CSV",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # tasks/ and workflows/ are packages too, so `luigi --module workflows.train` works from any directory.
    packages=find_packages(include=["sortbox", "sortbox.*", "tasks", "tasks.*", "workflows", "workflows.*"]),
    install_requires=[
        "luigi>=3.5,<4",
        "SQLAlchemy>=2.0,<3",
        "psycopg2-binary>=2.9,<3",
        "pyarrow>=14",
        "pandas>=2.1",
        "numpy>=1.26",
        "scipy>=1.11",
        "nltk>=3.8",
        "google-re2>=1.1",
        "hyperscan>=0.7; sys_platform == 'linux' and platform_machine == 'x86_64'",
        "gensim>=4.3",
        "scikit-learn>=1.4",
        "matplotlib>=3.8",
        "psutil>=5.9",
        # tasks.base.one_blas_thread: every task's process runs one BLAS thread (the same bytes with any --workers).
        "threadpoolctl>=3.1",
    ],
    # ruff: the linter scripts/test.sh runs before the tests (configuration in pyproject.toml).
    # pytest-xdist: scripts/test.sh runs the tests in one process per core (--dist loadscope).
    # quality: scripts/quality.py's multi-label data set is built from chatterbot-corpus's bundled dialogues.
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "ruff>=0.17,<0.18"],
        "quality": ["chatterbot-corpus==1.3.3", "PyYAML>=6"],
    },
)
