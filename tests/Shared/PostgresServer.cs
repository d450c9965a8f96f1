using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Tasks.Testing;

/// <summary>
/// A real PostgreSQL server of the test's own: Debian's binaries (apt-get install -y postgresql; ./test.sh does it),
/// a throwaway data directory, a free loopback port. initdb refuses root, so as root it runs as the postgres user.
/// </summary>
internal sealed class PostgresServer : IAsyncDisposable
{
    private readonly string bin;
    private readonly string data;

    private PostgresServer(string bin, string data, int port)
    {
        this.bin = bin;
        this.data = data;
        ConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=true";
    }

    public string ConnectionString { get; }

    public static async Task<PostgresServer> StartAsync()
    {
        var bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(v => Path.Combine(v, "bin")).Where(b => File.Exists(Path.Combine(b, "initdb"))).OrderDescending().FirstOrDefault()
            : null;
        if (bin is null)
            throw new InvalidOperationException("PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb): run `apt-get install -y postgresql` (./test.sh does it).");

        var data = Path.Combine(Path.GetTempPath(), "tasks-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(data);
        var port = FreePort();
        var server = new PostgresServer(bin, data, port);
        try
        {
            if (IsRoot) await ChildProcess.RunAsync("chown", ["postgres:postgres", data], data, TimeSpan.FromSeconds(10));
            await server.RunAsync("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], TimeSpan.FromMinutes(2));
            var settings = string.Create(CultureInfo.InvariantCulture, $"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200");
            await server.RunAsync("pg_ctl", ["-D", data, "-o", settings, "-l", Path.Combine(data, "server.log"), "-w", "-t", "60", "start"], TimeSpan.FromMinutes(2));
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunAsync("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], TimeSpan.FromSeconds(60));
        }
        catch (Exception)
        {
            // Not started, or gone already.
        }

        try
        {
            Directory.Delete(data, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    private Task<string> RunAsync(string program, string[] arguments, TimeSpan timeout)
        => IsRoot
            ? ChildProcess.RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(bin, program), .. arguments], data, timeout)
            : ChildProcess.RunAsync(Path.Combine(bin, program), arguments, data, timeout);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
