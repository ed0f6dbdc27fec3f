"""The classroom: the course roster, grades for the LMS, and (``course hub``) a multi-user JupyterHub."""
