// An lwm2m-node-lib server on 127.0.0.1:PORT: prints LISTENING, then for each Register
// REGISTERED <endpoint> <lifetime> <binding>, reads /3/0/0 of that device and prints
// READ <endpoint> <value>; prints DEREGISTERED <endpoint> on De-register.
'use strict';
var server = require('lwm2m-node-lib').server;
var port = parseInt(process.argv[2], 10);
var config = {
    port: port, lifetimeCheckInterval: 1000, udpWindow: 100, defaultType: 'Device', types: [],
    logLevel: 'FATAL', ipProtocol: 'udp4', serverProtocol: 'udp4', deviceRegistry: {type: 'memory'},
    formats: [{name: 'application-vnd-oma-lwm2m/text', value: 1541}, {name: 'application-vnd-oma-lwm2m/tlv', value: 1542}],
    writeFormat: 'application-vnd-oma-lwm2m/text', defaultAcceptFormat: 'text/plain'
};
server.start(config, function (err, info) {
    if (err) { console.log('ERROR start ' + err); process.exit(1); }
    server.setHandler(info, 'registration', function (endpoint, lifetime, version, binding, payload, callback) {
        console.log('REGISTERED ' + endpoint + ' ' + lifetime + ' ' + binding);
        callback();
        setTimeout(function () {
            server.getDevice(endpoint, function (err, device) {
                if (err) { console.log('ERROR getDevice ' + err); return; }
                server.read(device.id, '3', '0', '0', function (err, value) {
                    console.log(err ? 'ERROR read ' + err : 'READ ' + endpoint + ' ' + value);
                });
            });
        }, 200);
    });
    server.setHandler(info, 'unregistration', function (device, callback) {
        console.log('DEREGISTERED ' + device.name);
        callback();
    });
    console.log('LISTENING ' + port);
});
