//! A real gRPC server for the tests: tonic serving `portcullis.test.v1.Echo`
//! (tests/proto/echo.proto) on an ephemeral port, and a client for it.

use std::net::SocketAddr;
use std::pin::Pin;

use futures_util::Stream;
use tokio::sync::oneshot;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};

/// The generated messages, client and server.
pub mod proto {
    tonic::include_proto!("portcullis.test.v1");
}

/// The Echo service's descriptor set (`protoc --descriptor_set_out --include_imports`), as
/// `grpc-transcode` is configured with it.
pub const DESCRIPTOR_SET: &str = concat!(env!("OUT_DIR"), "/echo.pb");

use proto::echo_server::{Echo, EchoServer};
use proto::{Book, CreateBookRequest, EchoReply, EchoRequest};

pub use proto::echo_client::EchoClient;

/// The Echo service, listening on 127.0.0.1 until dropped.
pub struct GrpcUpstream {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl GrpcUpstream {
    /// Starts the server on an ephemeral port (plain text HTTP/2, as gRPC servers run behind a
    /// gateway).
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(EchoServer::new(EchoService))
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                }),
        );
        Ok(Self { addr, _stop: stop })
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A client of the Echo service at `addr` (the gateway's, or the server's own).
pub async fn client(addr: SocketAddr) -> anyhow::Result<EchoClient<tonic::transport::Channel>> {
    Ok(EchoClient::connect(format!("http://{addr}")).await?)
}

struct EchoService;

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

fn failure(request: &EchoRequest) -> Option<Status> {
    (request.fail_with != 0).then(|| {
        Status::new(
            tonic::Code::from_i32(request.fail_with),
            request.message.clone(),
        )
    })
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let echo_metadata = request
            .metadata()
            .get("x-echo")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let request = request.into_inner();
        if let Some(status) = failure(&request) {
            return Err(status);
        }
        Ok(Response::new(EchoReply {
            message: request.message,
            index: 0,
            echo_metadata,
        }))
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let request = request.into_inner();
        let replies = (0..request.count).map({
            let message = request.message.clone();
            move |index| {
                Ok(EchoReply {
                    message: format!("{message} {index}"),
                    index,
                    echo_metadata: String::new(),
                })
            }
        });
        let end = failure(&request).map(Err);
        let stream = tokio_stream::iter(replies.chain(end));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut stream = request.into_inner();
        let mut words = Vec::new();
        while let Some(request) = stream.next().await {
            words.push(request?.message);
        }
        Ok(Response::new(EchoReply {
            index: words.len() as i32,
            message: words.join(" "),
            echo_metadata: String::new(),
        }))
    }

    async fn create_book(
        &self,
        request: Request<CreateBookRequest>,
    ) -> Result<Response<Book>, Status> {
        let CreateBookRequest { shelf, book } = request.into_inner();
        let book = book.ok_or_else(|| Status::invalid_argument("no book"))?;
        Ok(Response::new(Book { shelf, ..book }))
    }

    type ChatStream = ReplyStream;

    async fn chat(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let stream = request.into_inner();
        let mut index = 0;
        let replies = stream.map(move |request| {
            let request = request?;
            index += 1;
            Ok(EchoReply {
                message: request.message,
                index: index - 1,
                echo_metadata: String::new(),
            })
        });
        Ok(Response::new(Box::pin(replies)))
    }
}
