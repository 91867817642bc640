FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DJANGO_SETTINGS_MODULE=amas.settings.production
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps -e . && SECRET_KEY=build python manage.py collectstatic --noinput
RUN useradd --create-home amas
USER amas
EXPOSE 8000
CMD ["python", "-m", "amas.web", "--host", "0.0.0.0", "--port", "8000"]
