//! Which endpoint a request is for.

use http::Method;

/// A request's endpoint, with the ids in its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Chat,
    Completions,
    Embeddings,
    Images,
    Rerank,
    Models,
    FilesCreate,
    /// `POST /v1/files/upload`: the whole file as `multipart/form-data`.
    FilesUpload,
    FilesList,
    FileGet(String),
    FileDelete(String),
    FileContent(String),
    FilePreprocess(String),
    /// The presigned upload URL `POST /files` redirects to.
    Upload(String),
    /// Where `response_format: "url"` images are served.
    Image(String),
    FineTuneCreate,
    FineTuneList,
    FineTuneGet(String),
    FineTuneCancel(String),
    FineTuneEvents(String),
    FineTuneCheckpoints(String),
    FineTuneDelete(String),
    /// `GET /v1/fine-tunes/models/limits?model_name=`.
    FineTuneLimits,
    /// `POST /v1/fine-tunes/estimate-price`.
    FineTuneEstimate,
    /// `POST /v1/audio/speech`.
    Speech,
    /// `POST /v1/audio/transcriptions`.
    Transcriptions,
    /// `POST /v1/audio/translations`.
    Translations,
    VideoCreate,
    VideoGet(String),
    /// Where finished videos are said to be.
    Video(String),
    /// `GET /v2/projects/{project}/models`, which Together's current SDKs
    /// call (`models.list`).
    ProjectModels(String),
    BatchCreate,
    BatchList,
    BatchGet(String),
    BatchCancel(String),
}

/// Where uploads go; not under `/v1`, like a storage bucket's signed URL.
pub(crate) const UPLOAD_PREFIX: &str = "/sim-upload/";
/// Where generated images are served.
pub(crate) const IMAGE_PREFIX: &str = "/sim-images/";
/// Where finished videos are served.
pub(crate) const VIDEO_PREFIX: &str = "/sim-videos/";

impl Route {
    /// Finds the route of `method` and `path`, or `None` for a 404.
    pub(crate) fn find(method: &Method, path: &str) -> Option<Route> {
        if let Some(id) = path.strip_prefix(UPLOAD_PREFIX) {
            return (method == Method::PUT && is_id(id)).then(|| Route::Upload(id.to_owned()));
        }
        if let Some(id) = path.strip_prefix(IMAGE_PREFIX) {
            return (method == Method::GET && is_id(id)).then(|| Route::Image(id.to_owned()));
        }
        if let Some(id) = path.strip_prefix(VIDEO_PREFIX) {
            return (method == Method::GET && is_id(id)).then(|| Route::Video(id.to_owned()));
        }
        if let Some(rest) = path.strip_prefix("/v2/projects/") {
            let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
            return match segments.as_slice() {
                [project, "models"] if method == Method::GET && is_id(project) => {
                    Some(Route::ProjectModels((*project).to_owned()))
                }
                _ => None,
            };
        }
        let rest = path.strip_prefix("/v1/")?;
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let id = |s: &str| is_id(s).then(|| s.to_owned());
        let get = method == Method::GET;
        let post = method == Method::POST;
        let route = match segments.as_slice() {
            ["chat", "completions"] if post => Route::Chat,
            ["completions"] if post => Route::Completions,
            ["embeddings"] if post => Route::Embeddings,
            ["images", "generations"] if post => Route::Images,
            ["rerank"] if post => Route::Rerank,
            ["audio", "speech"] if post => Route::Speech,
            ["audio", "transcriptions"] if post => Route::Transcriptions,
            ["audio", "translations"] if post => Route::Translations,
            ["videos"] if post => Route::VideoCreate,
            ["videos", v] if get => Route::VideoGet(id(v)?),
            ["models"] if get => Route::Models,
            ["files"] if post => Route::FilesCreate,
            ["files"] if get => Route::FilesList,
            ["files", "upload"] if post => Route::FilesUpload,
            ["files", f, "preprocess"] if post => Route::FilePreprocess(id(f)?),
            ["files", f] if get => Route::FileGet(id(f)?),
            ["files", f] if method == Method::DELETE => Route::FileDelete(id(f)?),
            ["files", f, "content"] if get => Route::FileContent(id(f)?),
            ["fine-tunes", "models", "limits"] if get => Route::FineTuneLimits,
            ["fine-tunes", "estimate-price"] if post => Route::FineTuneEstimate,
            ["fine-tunes"] if post => Route::FineTuneCreate,
            ["fine-tunes"] if get => Route::FineTuneList,
            ["fine-tunes", f] if get => Route::FineTuneGet(id(f)?),
            ["fine-tunes", f, "cancel"] if post => Route::FineTuneCancel(id(f)?),
            ["fine-tunes", f, "events"] if get => Route::FineTuneEvents(id(f)?),
            ["fine-tunes", f, "checkpoints"] if get => Route::FineTuneCheckpoints(id(f)?),
            ["fine-tunes", f] if method == Method::DELETE => Route::FineTuneDelete(id(f)?),
            ["batches"] if post => Route::BatchCreate,
            ["batches"] if get => Route::BatchList,
            ["batches", b] if get => Route::BatchGet(id(b)?),
            ["batches", b, "cancel"] if post => Route::BatchCancel(id(b)?),
            _ => return None,
        };
        Some(route)
    }

    /// Whether the answer is a model's (and so its scope is the model).
    pub(crate) fn is_inference(&self) -> bool {
        matches!(
            self,
            Route::Chat | Route::Completions | Route::Embeddings | Route::Images | Route::Rerank
        )
    }

    /// Whether the request needs an API key: the signed upload URL and the
    /// image URLs do not, as on the real service.
    pub(crate) fn needs_key(&self) -> bool {
        !matches!(self, Route::Upload(_) | Route::Image(_) | Route::Video(_))
    }

    /// Whether errors take the batch endpoints' `{"error": "..."}` shape.
    pub(crate) fn batch_errors(&self) -> bool {
        matches!(
            self,
            Route::BatchCreate | Route::BatchList | Route::BatchGet(_) | Route::BatchCancel(_)
        )
    }

    /// The rate-limit scope of endpoints without a model.
    pub(crate) fn scope_label(&self) -> &'static str {
        match self {
            Route::Models | Route::ProjectModels(_) => "models",
            Route::FilesCreate
            | Route::FilesUpload
            | Route::FilePreprocess(_)
            | Route::FilesList
            | Route::FileGet(_)
            | Route::FileDelete(_)
            | Route::FileContent(_)
            | Route::Upload(_) => "files",
            Route::FineTuneCreate
            | Route::FineTuneList
            | Route::FineTuneGet(_)
            | Route::FineTuneCancel(_)
            | Route::FineTuneEvents(_)
            | Route::FineTuneCheckpoints(_)
            | Route::FineTuneDelete(_)
            | Route::FineTuneLimits
            | Route::FineTuneEstimate => "fine-tunes",
            Route::BatchCreate | Route::BatchList | Route::BatchGet(_) | Route::BatchCancel(_) => {
                "batches"
            }
            Route::Image(_) => "images",
            Route::Speech | Route::Transcriptions | Route::Translations => "audio",
            Route::VideoCreate | Route::VideoGet(_) | Route::Video(_) => "videos",
            Route::Chat
            | Route::Completions
            | Route::Embeddings
            | Route::Images
            | Route::Rerank => "inference",
        }
    }
}

/// Ids are short and plain: anything else is not a path the service knows.
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
