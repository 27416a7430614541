using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace AgentSessions.Functions.Http;

/// <summary>
/// How the worker's own Kestrel (the listener the Functions host forwards each HTTP request to) decodes request header
/// values: as UTF-8, with undecodable bytes replaced instead of rejected.
/// </summary>
/// <remarks>
/// Kestrel's default decodes ASCII or valid UTF-8 and answers anything else with a bare 400 before any of the app runs.
/// Under the Functions ASP.NET Core integration that 400 never reaches a function: the invocation the host started
/// waits for a request that never arrives and fails after the worker's 15 s start timeout, so the caller sees a hang and
/// an empty 500. Decoding leniently lets every request reach the function, which judges header values itself (e.g.
/// <c>Idempotency-Key</c> must be printable ASCII: 422). The other half of that hang is in the Functions host and out
/// of the app's reach; README.md, "Request headers", says what it is.
/// </remarks>
public static class RequestHeaderEncoding
{
    /// <summary>UTF-8 that never throws: invalid bytes become U+FFFD.</summary>
    public static readonly Encoding Lenient = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    public static void Configure(KestrelServerOptions options) => options.RequestHeaderEncodingSelector = _ => Lenient;
}
