"""The compiled part of the Wikidata scan (cosmo_assets/knowledge_base/_prefilter.c), built when the project is
installed. Optional: where no C compiler is found the install goes on and the scan runs its Python tests."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("cosmo_assets.knowledge_base._prefilter", ["cosmo_assets/knowledge_base/_prefilter.c"],
                             optional=True)])
