"""Image uploads and signed image URLs."""
from __future__ import annotations

from flask import Response

from app.extensions import config_limit, limiter
from app.routes.common import Blueprint, errors, idempotent
from app.schemas.uploads import SignedArgs, UploadFormSchema, UploadSchema
from app.security import current_user, login_required
from app.services import uploads

blp = Blueprint("uploads", __name__, url_prefix="/api/v1", description="图片上传")


@blp.route("/uploads", methods=["POST"])
@login_required
@limiter.limit(config_limit("RATELIMIT_UPLOAD"))
@idempotent
@blp.arguments(UploadFormSchema, location="files")
@blp.response(201, UploadSchema)
@errors(429, codes={413: ["file_too_large", "payload_too_large", "image_decode_too_large"],
                    415: "not_an_image",
                    422: ["empty_file", "image_too_large"]})
def create(files):
    """Upload a JPEG, PNG or WebP image (multipart field `file`, at most 10 MB)"""
    return uploads.create_upload(current_user(), files["file"].read())


@blp.route("/uploads/<int:upload_id>", methods=["GET"])
@login_required
@blp.response(200, UploadSchema)
@errors(codes={404: "upload_not_found"})
def get(upload_id):
    """An image's details and a fresh signed URL (owner and allowed viewers only)"""
    return uploads.get_for_viewer(current_user(), upload_id)


@blp.route("/uploads/<int:upload_id>/content", methods=["GET"])
@blp.arguments(SignedArgs, location="query")
@blp.response(200, content_type="image/*")
@errors(codes={403: "upload_url_expired", 404: "upload_not_found"})
def content(args, upload_id):
    """The image bytes, for a signed URL"""
    upload, data = uploads.read_signed(upload_id, args["t"])
    return Response(data, mimetype=upload.content_type,
                    headers={"Cache-Control": "private, max-age=3600",
                             "X-Content-Type-Options": "nosniff"})
